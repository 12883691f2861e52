"""`order.placed`: the order is committed; schedule its capture intent in Redis.

Only a Redis *connection* failure (refused, timeout, DNS, reset, closed; see `lib/redis.py`) is
handled as an outage here: it is logged in the `[CRITICAL][DLQ]` pattern and the order is
flagged `needs_recovery` through the service layer, for the fallback job to recover. Checkout
has already committed and still answers 200. Any other error is logged with the order id and
not flagged: Postgres still says the order is authorized without a capture, and the fallback
job's stale-order scan gives it its job.
"""

from __future__ import annotations

import logging
from typing import Any

from surecapture import metrics
from surecapture.errors import RedisUnavailable
from surecapture.lib.payment_capture_queue import PaymentCaptureQueue
from surecapture.monitoring import FlagRateAlert, OutageLog
from surecapture.services.order_service import OrderService

log = logging.getLogger(__name__)

RECOVERY_REASON = "redis_failure"


class OrderPlacedSubscriber:
    def __init__(
        self,
        queue: PaymentCaptureQueue,
        orders: OrderService,
        *,
        outage: OutageLog | None = None,
        alert: FlagRateAlert | None = None,
    ) -> None:
        self._queue = queue
        self._orders = orders
        self.outage = outage or OutageLog()
        self.alert = alert or FlagRateAlert()

    async def __call__(self, data: dict[str, Any]) -> None:
        order_id = data["id"]
        if data.get("payment_status") != "authorized":
            return
        try:
            await self._queue.schedule_payment_capture(
                order_id, data["payment_reference"], data["capture_due_at"]
            )
        except RedisUnavailable as failure:
            await self._flag(order_id, failure)
            return
        except Exception:
            log.exception(
                "could not schedule the capture of order %s (not a Redis outage; the fallback "
                "job's stale scan will schedule it)",
                order_id,
            )
            return
        self.outage.succeeded()
        log.info("capture of order %s scheduled for %s", order_id, data["capture_due_at"])

    async def _flag(self, order_id: str, failure: RedisUnavailable) -> None:
        try:
            await self._orders.update_orders(
                [
                    {
                        "id": order_id,
                        "metadata": {"needs_recovery": True, "recovery_reason": RECOVERY_REASON},
                    }
                ]
            )
        except Exception:
            # Postgres failed too (a blip, a full pool). The order is committed and authorized
            # with no capture job, so the fallback job's stale-order scan still schedules it.
            log.critical(
                "[CRITICAL][DLQ] Redis unavailable (%s) and order %s could not be flagged "
                "needs_recovery either; the fallback job's stale-order scan will schedule its "
                "capture",
                failure.kind,
                order_id,
                exc_info=True,
            )
            return
        self.outage.failed(order_id, failure)
        metrics.ORDERS_FLAGGED.labels(reason=RECOVERY_REASON).inc()
        self.alert.record()
