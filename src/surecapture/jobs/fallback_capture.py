"""The fallback capture job: the one cron (every 5 minutes) and the "recovery mode" script.

It makes Redis agree with Postgres again:
- recovery: orders flagged `needs_recovery` get their capture job (due at `capture_due_at`, or
  now if that has passed; an existing delayed job just has its due time updated), and the flag
  is cleared only after Redis confirmed the job;
- stale: authorized orders without a flag and without a job (a crash between commit and
  subscriber, a Redis restarted empty) get their job the same way;
- failed: `capture_failed` orders are retried a bounded number of times, then alerted each run.

One run at a time across every process and host (a Postgres advisory lock); job states are read
for a whole batch in one Redis round trip; flagged orders are found through their partial index.
The decisions are pure functions (`decide`, `decide_failed`), tested through tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, tuple_

from surecapture import metrics
from surecapture.context import Context
from surecapture.db.models import Order
from surecapture.errors import RedisUnavailable
from surecapture.lib.payment_capture_queue import JobState
from surecapture.services.order_service import (
    CAPTURE_RETRIES_KEY,
    OrderUpdate,
    needs_recovery_clause,
    not_flagged_clause,
)

log = logging.getLogger(__name__)

# Any constant both sides agree on; this one spells "surecapture fallback" in ASCII, roughly.
LOCK_KEY = 0x5375726563617074


class Action(StrEnum):
    ADD = "add"  # no job: add it
    CHANGE_DELAY = "change_delay"  # a delayed job exists: only move its due time
    READD = "readd"  # the job finished but Postgres says not captured: remove, add again
    CLEAR = "clear"  # nothing to schedule (captured, canceled, or a job is running)
    SKIP = "skip"
    GIVE_UP = "give_up"  # a failed capture out of retries: alert


@dataclass(frozen=True)
class Candidate:
    id: str
    payment_status: str
    reference: str
    capture_due_at: datetime
    created_at: datetime
    flagged: bool
    reason: str | None = None
    retries: int = 0


def decide(order: Candidate, state: JobState) -> Action:
    """What an authorized (or flagged) order needs, given its job's state in Redis."""
    if order.payment_status not in ("authorized", "capture_failed"):
        return Action.CLEAR if order.flagged else Action.SKIP
    if state is JobState.DELAYED:
        # A flagged order's add may have reached Redis after all: only refresh its due time.
        return Action.CHANGE_DELAY if order.flagged else Action.SKIP
    if state.pending or state is JobState.WAITING_CHILDREN:
        return Action.CLEAR if order.flagged else Action.SKIP
    if state in (JobState.COMPLETED, JobState.FAILED):
        return Action.READD
    return Action.ADD


def decide_failed(order: Candidate, state: JobState, max_retries: int) -> Action:
    """A `capture_failed` order: retry while retries remain and no retry is under way."""
    if state.pending:
        return Action.SKIP
    if order.retries >= max_retries:
        return Action.GIVE_UP
    return Action.ADD if state is JobState.MISSING else Action.READD


def due_time(order: Candidate, now: datetime) -> datetime:
    """Never earlier than the customer's window allows; now if that has passed."""
    return max(order.capture_due_at, now)


@dataclass
class Summary:
    status: str = "done"  # done, already_running, redis_down, interrupted
    recovered: int = 0
    delays_updated: int = 0
    stale_rescheduled: int = 0
    failed_retried: int = 0
    failed_given_up: int = 0
    seconds: float = 0.0
    recovered_ids: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"fallback capture {self.status}: recovered {self.recovered} flagged orders "
            f"({self.delays_updated} delays updated), rescheduled {self.stale_rescheduled} stale, "
            f"retried {self.failed_retried} failed, {self.failed_given_up} failed beyond retries, "
            f"in {self.seconds:.2f} s"
        )

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "recovered_ids"}


async def run_fallback(context: Context, *, now: datetime | None = None) -> Summary:
    """One run; returns at once with status `already_running` if another holds the lock."""
    started = time.perf_counter()
    summary = Summary()
    async with context.engine.connect() as connection:
        # Autocommit: the lock's connection must not sit idle inside a transaction for the run.
        lock = await connection.execution_options(isolation_level="AUTOCOMMIT")
        if not await lock.scalar(select(func.pg_try_advisory_lock(LOCK_KEY))):
            summary.status = "already_running"
            log.info("fallback capture skipped: another run holds the lock")
            return summary
        try:
            await _run(context, summary, now or datetime.now(UTC))
        finally:
            await lock.scalar(select(func.pg_advisory_unlock(LOCK_KEY)))
    summary.seconds = time.perf_counter() - started
    metrics.FALLBACK_RUNS.labels(status=summary.status).inc()
    metrics.FALLBACK_SECONDS.observe(summary.seconds)
    metrics.FALLBACK_ORDERS.labels(kind="recovered").inc(summary.recovered)
    metrics.FALLBACK_ORDERS.labels(kind="stale").inc(summary.stale_rescheduled)
    metrics.FALLBACK_ORDERS.labels(kind="failed_retried").inc(summary.failed_retried)
    metrics.REDIS_OUTAGE_IMPACT.set(await context.orders.count_flagged())
    log.log(logging.WARNING if summary.status != "done" else logging.INFO, summary.line())
    return summary


async def _run(context: Context, summary: Summary, now: datetime) -> None:
    try:
        await context.queue.ping()
    except RedisUnavailable as exc:
        summary.status = "redis_down"
        log.warning("fallback capture: Redis still unavailable (%s); nothing changed", exc.message)
        return
    size = context.settings.fallback_batch_size
    try:
        async for batch in _batches(context, needs_recovery_clause(), size, flagged=True):
            await _reconcile(context, batch, summary, now, flagged=True)
        stale_before = now - timedelta(seconds=context.settings.fallback_stale_after_seconds)
        stale = and_(
            Order.payment_status == "authorized",
            Order.created_at < stale_before,
            not_flagged_clause(),
        )
        async for batch in _batches(context, stale, size, flagged=False):
            await _reconcile(context, batch, summary, now, flagged=False)
        failed = and_(Order.payment_status == "capture_failed", not_flagged_clause())
        async for batch in _batches(context, failed, size, flagged=False):
            await _retry_failed(context, batch, summary, now)
    except RedisUnavailable as exc:
        summary.status = "interrupted"
        log.warning("fallback capture interrupted: Redis unavailable (%s)", exc.message)


async def _batches(
    context: Context, where: ColumnElement[bool], size: int, *, flagged: bool
) -> Any:
    """Keyset pages ordered by (capture_due_at, id): each page is an index range scan."""
    after: tuple[datetime, str] | None = None
    while True:
        query = (
            select(
                Order.id,
                Order.payment_status,
                Order.payment_reference,
                Order.capture_due_at,
                Order.created_at,
                Order.metadata_["recovery_reason"].astext,
                Order.metadata_[CAPTURE_RETRIES_KEY].astext,
            )
            .where(where)
            .order_by(Order.capture_due_at, Order.id)
            .limit(size)
        )
        if after is not None:
            query = query.where(tuple_(Order.capture_due_at, Order.id) > tuple_(*after))
        async with context.db() as session:
            rows = (await session.execute(query)).all()
        if not rows:
            return
        yield [
            Candidate(
                id=row[0],
                payment_status=row[1],
                reference=row[2],
                capture_due_at=row[3],
                created_at=row[4],
                flagged=flagged,
                reason=row[5],
                retries=int(row[6] or 0),
            )
            for row in rows
        ]
        if len(rows) < size:
            return
        after = (rows[-1][3], rows[-1][0])


async def _reconcile(
    context: Context, batch: Sequence[Candidate], summary: Summary, now: datetime, *, flagged: bool
) -> None:
    states = await context.queue.job_states(order.id for order in batch)
    actions = {order.id: decide(order, states[order.id]) for order in batch}
    by_id = {order.id: order for order in batch}
    readd = [i for i, a in actions.items() if a is Action.READD]
    await context.queue.remove_finished(readd)
    to_add = [by_id[i] for i, a in actions.items() if a in (Action.ADD, Action.READD)]
    await context.queue.schedule_many((o.id, o.reference, due_time(o, now)) for o in to_add)
    moved_away = []
    for order_id, action in actions.items():
        if action is Action.CHANGE_DELAY:
            if await context.queue.change_delay(order_id, due_time(by_id[order_id], now)):
                summary.delays_updated += 1
            else:
                moved_away.append(by_id[order_id])
    # Not delayed after all: the job ran since its state was read, or it is gone (Redis
    # restarted, or only its delayed entry was left). Adding it again settles every case: the add
    # is ignored for a job that exists, and a flag is only cleared once Redis holds a job.
    await context.queue.schedule_many((o.id, o.reference, due_time(o, now)) for o in moved_away)
    # Redis has confirmed every job of this batch (each call above returned): clear the flags.
    if flagged:
        done = [o for o in batch if actions[o.id] is not Action.SKIP]
        await context.orders.update_orders(
            [
                {"id": o.id, "metadata": {"needs_recovery": None, "recovery_reason": None}}
                for o in done
            ]
        )
        summary.recovered += len(done)
        summary.recovered_ids += [o.id for o in done]
        for order in done:
            context.analytics.capture(
                "redis_recovery_triggered",
                order.id,
                {
                    "order_id": order.id,
                    "recovery_reason": order.reason,
                    "action": actions[order.id].value,
                    "minutes_flagged": round((now - order.created_at).total_seconds() / 60, 1),
                },
            )
    else:
        for order in to_add:
            state = states[order.id]
            log.warning(
                "[FALLBACK] order %s had %s; scheduled for %s",
                order.id,
                "no capture job" if state is JobState.MISSING else f"only a {state} capture job",
                due_time(order, now).isoformat(),
            )
        summary.stale_rescheduled += len(to_add)


async def _retry_failed(
    context: Context, batch: Sequence[Candidate], summary: Summary, now: datetime
) -> None:
    max_retries = context.settings.fallback_failed_retries
    states = await context.queue.job_states(order.id for order in batch)
    actions = {o.id: decide_failed(o, states[o.id], max_retries) for o in batch}
    retry = [o for o in batch if actions[o.id] in (Action.ADD, Action.READD)]
    await context.queue.remove_finished(o.id for o in retry if actions[o.id] is Action.READD)
    await context.queue.schedule_many(((o.id, o.reference, now) for o in retry), fresh_keys=True)
    updates: list[OrderUpdate] = [
        {"id": o.id, "metadata": {CAPTURE_RETRIES_KEY: o.retries + 1}} for o in retry
    ]
    await context.orders.update_orders(updates)
    summary.failed_retried += len(retry)
    given_up = [o.id for o in batch if actions[o.id] is Action.GIVE_UP]
    summary.failed_given_up += len(given_up)
    if given_up:
        log.critical(
            "[CRITICAL][DLQ] %d orders still capture_failed after %d fallback retries, "
            "needing a person: %s",
            len(given_up),
            max_retries,
            ", ".join(given_up[:20]) + (" …" if len(given_up) > 20 else ""),
        )
