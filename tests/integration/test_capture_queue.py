"""The capture queue against the real (shared) Redis, under this run's own key prefix."""

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from surecapture.lib.payment_capture_queue import JobState, PaymentCaptureQueue
from surecapture.lib.redis import RedisSettings, redis_client
from tests.conftest import QUEUE_PREFIX, REDIS


@pytest.fixture
async def queue() -> AsyncIterator[PaymentCaptureQueue]:
    q = PaymentCaptureQueue(redis_client(RedisSettings(url=REDIS)), prefix=QUEUE_PREFIX)
    yield q
    await q.close()


def order_id() -> str:
    return f"order_{secrets.token_hex(8)}"


async def test_schedule_adds_a_delayed_job_due_at_the_capture_time(
    queue: PaymentCaptureQueue,
) -> None:
    oid = order_id()
    due = datetime.now(UTC) + timedelta(minutes=10)
    job_id = await queue.schedule_payment_capture(oid, "ref_1", due)
    assert job_id == f"capture-{oid}"
    assert await queue.job_state(oid) is JobState.DELAYED
    job = await queue.queue.getJob(job_id)
    assert job.data == {"order_id": oid, "reference": "ref_1", "due_at": due.isoformat()}
    assert abs(job.timestamp + job.delay - due.timestamp() * 1000) < 50
    assert job.opts["attempts"] == 3


async def test_a_second_add_with_the_same_id_is_ignored(queue: PaymentCaptureQueue) -> None:
    """BullMQ's rule, kept visible: re-adding does not move the due time."""
    oid = order_id()
    soon = datetime.now(UTC) + timedelta(minutes=1)
    await queue.schedule_payment_capture(oid, "ref", soon)
    await queue.schedule_payment_capture(oid, "ref", soon + timedelta(hours=1))
    job = await queue.queue.getJob(f"capture-{oid}")
    assert abs(job.timestamp + job.delay - soon.timestamp() * 1000) < 50


async def test_change_delay_moves_a_delayed_job(queue: PaymentCaptureQueue) -> None:
    oid = order_id()
    await queue.schedule_payment_capture(oid, "ref", datetime.now(UTC) + timedelta(minutes=1))
    later = datetime.now(UTC) + timedelta(minutes=30)
    assert await queue.change_delay(oid, later) is True
    score = await queue.client.zscore(queue.queue.keys["delayed"], f"capture-{oid}")
    assert score is not None
    assert abs(int(score) // 0x1000 - later.timestamp() * 1000) < 50
    assert await queue.change_delay(order_id(), later) is False


async def test_cancel_removes_and_reports_absence(queue: PaymentCaptureQueue) -> None:
    oid = order_id()
    await queue.schedule_payment_capture(oid, "ref", datetime.now(UTC) + timedelta(minutes=1))
    assert await queue.cancel(oid) is True
    assert await queue.job_state(oid) is JobState.MISSING
    assert await queue.cancel(oid) is False


async def test_job_states_in_one_round_trip_match_bullmq(queue: PaymentCaptureQueue) -> None:
    delayed, missing = order_id(), order_id()
    await queue.schedule_payment_capture(delayed, "ref", datetime.now(UTC) + timedelta(minutes=1))
    states = await queue.job_states([delayed, missing])
    assert states == {delayed: JobState.DELAYED, missing: JobState.MISSING}
    assert states[delayed] is await queue.job_state(delayed)


async def test_job_states_of_a_thousand_orders_take_one_round_trip(
    queue: PaymentCaptureQueue,
) -> None:
    ids = [order_id() for _ in range(1000)]
    await queue.job_states(ids[:1])  # loads the script once
    calls: list[object] = []
    original: Callable[..., Awaitable[object]] = queue.client.execute_command

    async def counting(*args: object, **kwargs: object) -> object:
        calls.append(args[0])
        return await original(*args, **kwargs)

    queue.client.execute_command = counting  # type: ignore[method-assign]
    states = await queue.job_states(ids)
    assert calls == ["EVALSHA"]
    assert set(states.values()) == {JobState.MISSING}
