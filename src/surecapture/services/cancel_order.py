"""Cancelling an order within its grace window: void the authorization, remove the capture job.

The capture job is removed first: if a worker holds it, the capture may be under way, so the
answer is 409 and nothing changes. Then, under the order's row lock (the worker takes the same
lock), a captured order refuses the cancel and an authorized one is voided. If Redis is down,
the job cannot be removed, but the worker re-reads the order under that lock and skips a
canceled one, so the cancel still holds.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import raiseload

from surecapture.context import Context
from surecapture.db.models import Order, Payment
from surecapture.errors import CaptureJobActive, Conflict, NotFound

log = logging.getLogger(__name__)


async def cancel_order(context: Context, order_id: str) -> None:
    async with context.db() as session:
        status = await session.scalar(select(Order.payment_status).where(Order.id == order_id))
    if status is None:
        raise NotFound(f"Order id not found: {order_id}")
    if status == "canceled":
        return
    if status == "captured":
        raise Conflict(f"Order {order_id} was already captured")
    try:
        await context.queue.cancel(order_id)  # CaptureJobActive (409) when a worker holds it
    except CaptureJobActive:
        raise
    except Exception as exc:
        # Whatever kept the job in Redis, the cancel below still holds: the worker re-reads the
        # order under the same row lock and skips a canceled one.
        log.warning("cancel of order %s: capture job not removed (%r)", order_id, exc)
    now = datetime.now(UTC)
    async with context.db.begin() as session:
        # The row alone: the relationships (items, addresses…) are not needed to capture.
        order = await session.scalar(
            select(Order).where(Order.id == order_id).options(raiseload("*")).with_for_update()
        )
        assert order is not None
        if order.payment_status == "canceled":
            return
        if order.payment_status == "captured":
            raise Conflict(f"Order {order_id} was already captured")
        provider = context.providers.get(order.payment_provider_id)
        await provider.cancel(
            session, reference=order.payment_reference, idempotency_key=f"cancel-{order.id}"
        )
        order.status = "canceled"
        order.payment_status = "canceled"
        order.canceled_at = now
        await session.execute(
            update(Payment).where(Payment.order_id == order.id).values(canceled_at=now)
        )
    log.info("order %s canceled, authorization voided", order_id)
