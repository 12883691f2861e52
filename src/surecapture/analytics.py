"""Product analytics through the `posthog` SDK. Off without POSTHOG_API_KEY.

The SDK queues events in memory and sends them from its own thread, so `capture` never blocks
or fails a request or a job; a PostHog outage costs events, not orders.
"""

from __future__ import annotations

import logging
from typing import Any

from posthog import Posthog

log = logging.getLogger(__name__)


class Analytics:
    def __init__(self, api_key: str | None, host: str | None = None) -> None:
        self._client = (
            Posthog(api_key, host=host, flush_interval=1.0, max_retries=2, timeout=5)
            if api_key
            else None
        )

    @property
    def enabled(self) -> bool:
        return self._client is not None

    def capture(self, event: str, distinct_id: str, properties: dict[str, Any]) -> None:
        if self._client is None:
            return
        try:
            self._client.capture(event, distinct_id=distinct_id, properties=properties)
        except Exception:
            log.warning("analytics event %s for %s dropped", event, distinct_id, exc_info=True)

    def flush(self) -> None:
        if self._client is not None:
            self._client.flush()

    def close(self) -> None:
        if self._client is not None:
            self._client.shutdown()
