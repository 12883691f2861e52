"""`order.placed`: the order is committed; schedule its capture intent in Redis.

Postgres already holds everything needed to capture (`payment_status`, `capture_due_at`), so a
failure here never loses the order: it is logged with the order id, and the fallback job's
stale-order scan gives the order its job later.
"""

from __future__ import annotations

import logging
from typing import Any

from surecapture.lib.payment_capture_queue import PaymentCaptureQueue

log = logging.getLogger(__name__)


class OrderPlacedSubscriber:
    def __init__(self, queue: PaymentCaptureQueue) -> None:
        self._queue = queue

    async def __call__(self, data: dict[str, Any]) -> None:
        order_id = data["id"]
        if data.get("payment_status") != "authorized":
            return
        try:
            await self._queue.schedule_payment_capture(
                order_id, data["payment_reference"], data["capture_due_at"]
            )
        except Exception:
            log.exception("could not schedule the capture of order %s", order_id)
            return
        log.info("capture of order %s scheduled for %s", order_id, data["capture_due_at"])
