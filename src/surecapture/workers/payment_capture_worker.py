"""Captures each order when its capture job comes due.

The job body is short: lock the order row, re-read it, skip what must not be captured, capture
the current total with the idempotency key `capture-{order_id}`, record it. The row lock
serialises the capture against a concurrent cancel; the unique `captures.order_id` and the
idempotency key make a second delivery of the same job harmless.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bullmq import Job, Worker
from bullmq.custom_errors import DelayedError, UnrecoverableError
from sqlalchemy import insert, select, update

from surecapture import metrics
from surecapture.context import Context
from surecapture.db.models import Capture, Order, Payment, table
from surecapture.errors import CaptureError
from surecapture.ids import new_id
from surecapture.lib.payment_capture_queue import QUEUE_NAME, capture_job_id
from surecapture.lib.redis import connection_failure, redis_client

log = logging.getLogger(__name__)

CAPTURABLE = ("authorized", "capture_failed")


class Outcome(StrEnum):
    CAPTURED = "captured"
    ALREADY_CAPTURED = "already_captured"
    CANCELED = "canceled"
    NOT_DUE = "not_due"
    MISSING = "missing"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    due_at: datetime | None = None


async def capture_order(
    context: Context,
    order_id: str,
    *,
    now: datetime | None = None,
    idempotency_key: str | None = None,
) -> Result:
    """Capture one order if it is due and still authorized, under `idempotency_key` (the job's,
    else `capture-{order_id}`). Raises `CaptureError` when the provider did not capture (the
    caller decides between retrying and giving up).

    Core statements rather than the ORM unit of work: this runs once per order at the rate the
    queue drains, and the ORM's flush machinery was most of its CPU cost."""
    now = now or datetime.now(UTC)
    orders = table(Order)
    async with context.db.begin() as session:
        order = (
            await session.execute(
                select(
                    orders.c.payment_status,
                    orders.c.capture_due_at,
                    orders.c.payment_provider_id,
                    orders.c.payment_reference,
                    orders.c.total,
                    orders.c.currency_code,
                )
                .where(orders.c.id == order_id)
                .with_for_update()
            )
        ).one_or_none()
        if order is None:
            return Result(Outcome.MISSING)
        if order.payment_status == "captured":
            return Result(Outcome.ALREADY_CAPTURED)
        if order.payment_status not in CAPTURABLE:
            return Result(Outcome.CANCELED)
        if order.capture_due_at > now:
            return Result(Outcome.NOT_DUE, order.capture_due_at)
        key = idempotency_key or capture_job_id(order_id)
        await context.providers.get(order.payment_provider_id).capture(
            session,
            reference=order.payment_reference,
            amount=order.total,
            currency_code=order.currency_code,
            idempotency_key=key,
        )
        await session.execute(
            insert(table(Capture)).values(
                id=new_id("cap"),
                order_id=order_id,
                provider_id=order.payment_provider_id,
                reference=order.payment_reference,
                amount=order.total,
                currency_code=order.currency_code,
                idempotency_key=key,
                created_at=now,
            )
        )
        await session.execute(
            update(orders)
            .where(orders.c.id == order_id)
            .values(
                payment_status="captured",
                captured_at=now,
                captured_amount=order.total,
                updated_at=now,
            )
        )
        payments = table(Payment)
        await session.execute(
            update(payments)
            .where(payments.c.order_id == order_id, payments.c.reference == order.payment_reference)
            .values(captured_at=now, updated_at=now)
        )
    log.info("captured order %s: %s %s", order_id, order.total, order.currency_code)
    return Result(Outcome.CAPTURED)


async def mark_capture_failed(context: Context, order_id: str, reason: str) -> None:
    async with context.db.begin() as session:
        await session.execute(
            update(Order)
            .where(Order.id == order_id, Order.payment_status == "authorized")
            .values(payment_status="capture_failed", updated_at=datetime.now(UTC))
        )
    metrics.CAPTURES.labels(outcome="failed").inc()
    log.critical(
        "[CRITICAL][DLQ] Payment capture permanently failed for order %s: %s", order_id, reason
    )


class PaymentCaptureWorker:
    """The BullMQ worker of queue `payment-capture`, over its own Redis connection."""

    def __init__(self, context: Context, *, concurrency: int | None = None) -> None:
        self._context = context
        self._concurrency = concurrency or context.settings.worker_concurrency
        self._worker: Worker | None = None
        self._running: asyncio.Task[None] | None = None

    async def start(self) -> None:
        settings = self._context.settings
        # A worker blocks on Redis for up to 10 s waiting for work; its reads must outlast that.
        client = redis_client(settings.redis, read_timeout=15)
        self._worker = Worker(
            QUEUE_NAME,
            self.process,
            {
                "connection": client,
                "prefix": settings.queue_prefix,
                "concurrency": self._concurrency,
                "drainDelay": 5,
                # A running job's lock is renewed every half lock; the jobs of a worker that
                # died are given to another within one lock and one stall check.
                "lockDuration": settings.worker_lock_seconds * 1000,
                "stalledInterval": settings.worker_lock_seconds * 500,
                # BullMQ waits 15 s by default before asking a Redis that failed again.
                "runRetryDelay": 1000,
                "autorun": False,
            },
        )
        self._worker.on("error", lambda *args: log.error("capture worker error: %r", args))
        self._running = asyncio.create_task(self._supervise(self._worker))

    async def _supervise(self, worker: Worker) -> None:
        """BullMQ's `run` gives up when Redis is unreachable as it starts (or on an unexpected
        error); run it again, so a worker started during an outage captures once Redis is back."""
        while not worker.closing:
            try:
                await worker.run()
            except Exception as exc:
                failure = connection_failure(exc)
                log.warning(
                    "capture worker could not run (%s); retrying in 1 s",
                    failure.message if failure else repr(exc),
                )
            if not worker.closing:
                await asyncio.sleep(1)

    async def close(self) -> None:
        """Graceful: finishes the jobs in hand, takes no new ones."""
        if self._worker is not None:
            await self._worker.close()
            self._worker = None
        if self._running is not None:
            await self._running
            self._running = None

    async def process(self, job: Job, token: str) -> dict[str, Any]:
        order_id = job.data["order_id"]
        final = job.attemptsMade + 1 >= int(job.opts.get("attempts", 1))
        try:
            result = await capture_order(
                self._context, order_id, idempotency_key=job.data.get("idempotency_key")
            )
        except CaptureError as exc:
            metrics.CAPTURES.labels(
                outcome="retryable_error" if exc.retryable else "declined"
            ).inc()
            if exc.retryable and not final:
                log.warning(
                    "capture of order %s failed (attempt %d), will retry: %s",
                    order_id,
                    job.attemptsMade + 1,
                    exc.message,
                )
                raise
            await mark_capture_failed(self._context, order_id, exc.message)
            raise UnrecoverableError(exc.message) from exc
        except Exception as exc:
            if final:
                await mark_capture_failed(self._context, order_id, repr(exc))
            raise
        metrics.CAPTURES.labels(outcome=result.outcome.value).inc()
        if result.outcome is Outcome.NOT_DUE and result.due_at is not None:
            # Never capture early: put the job back until the order's own due time.
            await job.moveToDelayed(int(result.due_at.timestamp() * 1000), token)
            raise DelayedError()
        return {"outcome": result.outcome.value}
