"""In-process event bus. Services publish only after their transaction commits.

A subscriber's failure is logged with the event and never reaches the publisher: an order that
was committed stays placed whatever a subscriber does.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

ORDER_PLACED = "order.placed"

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, event: str, handler: Handler) -> None:
        self._handlers[event].append(handler)

    def unsubscribe(self, event: str, handler: Handler) -> None:
        self._handlers[event].remove(handler)

    async def publish(self, event: str, data: dict[str, Any]) -> None:
        for handler in self._handlers.get(event, []):
            try:
                await handler(data)
            except Exception:
                log.exception(
                    "subscriber %s failed for %s %s", _name(handler), event, data.get("id")
                )


def _name(handler: Handler) -> str:
    # Subscribers are functions or callable objects; only functions have a __qualname__.
    return getattr(handler, "__qualname__", None) or type(handler).__qualname__
