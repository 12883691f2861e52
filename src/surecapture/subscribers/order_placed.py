"""`order.placed`: the order is committed; this is where its capture gets scheduled.

The capture queue (Redis/BullMQ) arrives with the capture-engine work; until then the
subscriber records that it saw the order, so the event path is wired and tested end to end.
"""

from __future__ import annotations

import logging
from typing import Any

from surecapture.services.order_service import OrderService

log = logging.getLogger(__name__)


class OrderPlacedSubscriber:
    def __init__(self, orders: OrderService) -> None:
        self._orders = orders

    async def __call__(self, data: dict[str, Any]) -> None:
        log.info("order.placed %s", data["id"])
