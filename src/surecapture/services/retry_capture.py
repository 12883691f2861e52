"""An operator's retry of a capture that failed for good (`capture_failed`), once its cause is
fixed: the capture job is added again, due now, under an idempotency key of its own (see
`fresh_capture_key`), and the fallback job's retry count starts over, so that it goes on
retrying if this attempt fails too. If Redis is down the answer is 503, and the reset count
lets the fallback job retry once Redis is back."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select

from surecapture.context import Context
from surecapture.db.models import Order
from surecapture.errors import CaptureJobActive, InvalidState, NotFound
from surecapture.lib.payment_capture_queue import JobState
from surecapture.services.order_service import CAPTURE_RETRIES_KEY

log = logging.getLogger(__name__)


async def retry_capture(context: Context, order_id: str) -> None:
    async with context.db() as session:
        order = (
            await session.execute(
                select(Order.payment_status, Order.payment_reference).where(Order.id == order_id)
            )
        ).one_or_none()
    if order is None:
        raise NotFound(f"Order id not found: {order_id}")
    if order.payment_status != "capture_failed":
        raise InvalidState(
            f"Order {order_id} is {order.payment_status}: only a capture_failed order's capture "
            "can be retried"
        )
    await context.orders.update_orders([{"id": order_id, "metadata": {CAPTURE_RETRIES_KEY: 0}}])
    state = await context.queue.job_state(order_id)
    if state.pending:
        raise CaptureJobActive(f"A capture of order {order_id} is already queued or under way")
    if state in (JobState.COMPLETED, JobState.FAILED):
        await context.queue.remove_finished([order_id])
    await context.queue.schedule_payment_capture(
        order_id, order.payment_reference, datetime.now(UTC), fresh_key=True
    )
    log.info("capture of order %s retried by an operator", order_id)
