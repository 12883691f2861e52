"""The fallback capture job (story 6.2, AC 8-13) with real redis-server processes started and
stopped by the tests, each test on a database of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from surecapture.context import Context
from surecapture.jobs.fallback_capture import run_fallback
from surecapture.lib.payment_capture_queue import JobState, capture_job_id
from surecapture.workers.payment_capture_worker import PaymentCaptureWorker
from tests import storefront
from tests.fakes.fake_posthog import FakePostHog
from tests.faults.conftest import Stack, metadata_of
from tests.integration.capture_fixtures import ScriptedProvider, captures_of, ledger, order_row
from tests.redis_tools import RedisServer
from tests.waiting import eventually

AppAgainst = Callable[..., AbstractAsyncContextManager[Stack]]
FLAG = {"needs_recovery": True, "recovery_reason": "redis_failure"}


async def checkout(client: httpx.AsyncClient) -> str:
    cart = await storefront.ready_cart(client)
    response = await client.post(f"/store/carts/{cart['id']}/complete")
    assert response.status_code == 200, response.text
    return str(response.json()["order"]["id"])


async def job_due_ms(context: Context, order_id: str) -> int:
    job = await context.queue.queue.getJob(capture_job_id(order_id))
    assert job is not None
    return int(job.timestamp + job.delay)


@pytest.fixture
def server(tmp_path: Path) -> Any:
    redis = RedisServer(tmp_path).start()
    yield redis
    redis.kill()


async def test_full_outage_cycle(
    app_against: AppAgainst, fresh_database_url: str, server: RedisServer, fake_posthog: FakePostHog
) -> None:
    async with app_against(
        server.url,
        database_url=fresh_database_url,
        posthog_api_key="phc_test",
        posthog_host=fake_posthog.url,
    ) as (client, context):
        server.kill()
        order_ids = [await checkout(client) for _ in range(30)]
        for order_id in order_ids:
            assert await metadata_of(context, order_id) == FLAG
        server.start()  # empty: no persistence

        before = datetime.now(UTC)
        summary = await run_fallback(context)
        assert (summary.status, summary.recovered, summary.stale_rescheduled) == ("done", 30, 0)
        for order_id in order_ids:
            order = await order_row(context, order_id)
            assert await context.queue.job_state(order_id) is JobState.DELAYED
            expected = max(order.capture_due_at, before)
            assert abs(await job_due_ms(context, order_id) - expected.timestamp() * 1000) < 1000
            assert await metadata_of(context, order_id) == {}
        assert await context.orders.count_flagged() == 0

        context.analytics.flush()
        events = await eventually(lambda: _events(fake_posthog, 30))
        assert sorted(e["properties"]["order_id"] for e in events) == sorted(order_ids)
        assert {e["properties"]["recovery_reason"] for e in events} == {"redis_failure"}
        assert all("minutes_flagged" in e["properties"] for e in events)

        again = await run_fallback(context)
        assert (again.recovered, again.delays_updated, again.stale_rescheduled) == (0, 0, 0)
        context.analytics.flush()
        assert len(fake_posthog.named("redis_recovery_triggered")) == 30


async def _events(fake: FakePostHog, count: int) -> list[dict[str, Any]] | None:
    events = fake.named("redis_recovery_triggered")
    return events if len(events) >= count else None


async def test_redis_restarted_empty_gets_every_job_back_and_nothing_is_captured_twice(
    app_against: AppAgainst, fresh_database_url: str, server: RedisServer
) -> None:
    async with app_against(
        server.url,
        database_url=fresh_database_url,
        fallback_stale_after_seconds=0,
        capture_window_seconds=2,
        capture_buffer_seconds=0,
    ) as (client, context):
        order_ids = [await checkout(client) for _ in range(8)]
        assert all([await context.queue.job_state(o) is JobState.DELAYED for o in order_ids])
        server.restart()  # every job is gone; Postgres still says authorized

        summary = await run_fallback(context)
        assert summary.stale_rescheduled == 8
        assert all([(await context.queue.job_state(o)).pending for o in order_ids])
        worker = PaymentCaptureWorker(context)
        await worker.start()
        try:
            for order_id in order_ids:
                await eventually(partial(_captured, context, order_id))
        finally:
            await worker.close()
        assert (await run_fallback(context)).stale_rescheduled == 0
        for order_id in order_ids:
            order = await order_row(context, order_id)
            assert [k for k, _ in await ledger(context, order.payment_reference)].count(
                "capture"
            ) == 1
            assert await captures_of(context, order_id) == 1


async def _captured(context: Context, order_id: str) -> bool:
    return (await order_row(context, order_id)).payment_status == "captured"


async def test_intermittent_failure_only_updates_the_delay(
    app_against: AppAgainst, fresh_database_url: str, server: RedisServer
) -> None:
    async with app_against(server.url, database_url=fresh_database_url) as (client, context):
        order_id = await checkout(client)
        # The add reached Redis but its answer did not: a job exists and the order is flagged.
        await context.orders.update_orders([{"id": order_id, "metadata": FLAG}])
        order = await order_row(context, order_id)
        job_before = await context.queue.queue.getJob(capture_job_id(order_id))
        summary = await run_fallback(context)
        assert (summary.recovered, summary.delays_updated) == (1, 1)
        assert await metadata_of(context, order_id) == {}
        assert await context.queue.job_state(order_id) is JobState.DELAYED
        job_after = await context.queue.queue.getJob(capture_job_id(order_id))
        assert job_after.timestamp == job_before.timestamp, "the same job, not a new one"
        assert (
            abs(await job_due_ms(context, order_id) - order.capture_due_at.timestamp() * 1000)
            < 1000
        )
        counts = await context.queue.queue.getJobCounts()
        assert counts["delayed"] == 1


async def test_a_delayed_entry_whose_job_is_gone_gets_its_job_back(
    app_against: AppAgainst, fresh_database_url: str, server: RedisServer
) -> None:
    """The state read says delayed but the job cannot be moved (its hash is gone, as after an
    eviction or a partial restore): the run adds the job again instead of trying forever."""
    async with app_against(server.url, database_url=fresh_database_url) as (client, context):
        order_id = await checkout(client)
        await context.orders.update_orders([{"id": order_id, "metadata": FLAG}])
        queue = context.queue.queue
        await context.queue.client.delete(queue.toKey(capture_job_id(order_id)))
        assert await context.queue.job_state(order_id) is JobState.DELAYED  # the entry is left

        summary = await run_fallback(context)
        assert (summary.status, summary.recovered, summary.delays_updated) == ("done", 1, 0)
        assert summary.stale_rescheduled == 0
        assert await metadata_of(context, order_id) == {}
        job = await queue.getJob(capture_job_id(order_id))
        assert job is not None and job.data["order_id"] == order_id
        assert await context.queue.job_state(order_id) is JobState.DELAYED
        order = await order_row(context, order_id)
        assert (
            abs(await job_due_ms(context, order_id) - order.capture_due_at.timestamp() * 1000)
            < 1000
        )


async def test_completed_job_of_a_captured_but_flagged_order_just_clears_the_flag(
    app_against: AppAgainst, fresh_database_url: str, server: RedisServer
) -> None:
    async with app_against(
        server.url,
        database_url=fresh_database_url,
        capture_window_seconds=1,
        capture_buffer_seconds=0,
    ) as (client, context):
        order_id = await checkout(client)
        worker = PaymentCaptureWorker(context)
        await worker.start()
        try:
            await eventually(lambda: _captured(context, order_id))
            await eventually(lambda: _state_is(context, order_id, JobState.COMPLETED))
        finally:
            await worker.close()
        await context.orders.update_orders([{"id": order_id, "metadata": FLAG}])
        summary = await run_fallback(context)
        assert summary.recovered == 1
        assert await metadata_of(context, order_id) == {}
        assert await context.queue.job_state(order_id) is JobState.COMPLETED
        order = await order_row(context, order_id)
        assert [k for k, _ in await ledger(context, order.payment_reference)].count("capture") == 1


async def _state_is(context: Context, order_id: str, state: JobState) -> bool:
    return await context.queue.job_state(order_id) is state


async def test_two_runs_at_once_one_works_the_other_reports_already_running(
    app_against: AppAgainst, fresh_database_url: str, server: RedisServer
) -> None:
    async with app_against(server.url, database_url=fresh_database_url) as (client, context):
        server.kill()
        order_ids = [await checkout(client) for _ in range(5)]
        server.start()
        first, second = await asyncio.gather(run_fallback(context), run_fallback(context))
        statuses = sorted([first.status, second.status])
        assert statuses == ["already_running", "done"]
        assert first.recovered + second.recovered == 5
        assert all([await metadata_of(context, o) == {} for o in order_ids])


async def test_redis_still_down_changes_nothing(
    app_against: AppAgainst,
    fresh_database_url: str,
    server: RedisServer,
    fake_posthog: FakePostHog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with app_against(
        server.url,
        database_url=fresh_database_url,
        posthog_api_key="phc_test",
        posthog_host=fake_posthog.url,
    ) as (client, context):
        server.kill()
        order_ids = [await checkout(client) for _ in range(3)]
        summary = await run_fallback(context)
        assert summary.status == "redis_down"
        assert summary.recovered == 0
        for order_id in order_ids:
            assert await metadata_of(context, order_id) == FLAG
        context.analytics.flush()
        assert fake_posthog.named("redis_recovery_triggered") == []
    warnings = [
        r
        for r in caplog.records
        if "Redis still unavailable" in r.getMessage() and "fallback" in r.getMessage()
    ]
    assert len(warnings) == 1


async def test_the_whole_story_outage_to_single_capture(
    app_against: AppAgainst, fresh_database_url: str, server: RedisServer, admin: httpx.AsyncClient
) -> None:
    async with app_against(
        server.url,
        database_url=fresh_database_url,
        capture_window_seconds=2,
        capture_buffer_seconds=0,
    ) as (client, context):
        server.kill()
        order_id = await checkout(client)
        assert await metadata_of(context, order_id) == FLAG
        server.start()
        client.headers["authorization"] = admin.headers["authorization"]
        response = await client.post("/admin/jobs/fallback-capture")
        assert response.status_code == 200
        assert response.json()["summary"]["recovered"] == 1
        worker = PaymentCaptureWorker(context)
        await worker.start()
        try:
            await eventually(lambda: _captured(context, order_id))
        finally:
            await worker.close()
        order = await order_row(context, order_id)
        assert order.captured_at is not None and order.captured_at >= order.capture_due_at
        assert [k for k, _ in await ledger(context, order.payment_reference)] == [
            "authorize",
            "capture",
        ]
        assert await metadata_of(context, order_id) == {}


async def test_failed_captures_are_retried_a_bounded_number_of_times(
    app_against: AppAgainst,
    fresh_database_url: str,
    server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with app_against(
        server.url,
        database_url=fresh_database_url,
        capture_window_seconds=1,
        capture_buffer_seconds=0,
        capture_attempts=1,
        fallback_failed_retries=1,
    ) as (client, context):
        provider = ScriptedProvider()
        context.providers.register(provider)
        provider.script = ["declined", "declined"]
        cart = await storefront.ready_cart(client)
        await storefront.ok(
            await client.post(
                f"/store/payment-collections/{cart['payment_collection']['id']}/payment-sessions",
                json={"provider_id": provider.id},
            )
        )
        order_id = (await storefront.complete(client, cart["id"]))["order"]["id"]
        worker = PaymentCaptureWorker(context)
        await worker.start()
        try:
            await eventually(lambda: _status(context, order_id, "capture_failed"))
            await eventually(lambda: _state_is(context, order_id, JobState.FAILED))
            first = await run_fallback(context)
            assert first.failed_retried == 1
            assert (await metadata_of(context, order_id))["fallback_capture_retries"] == 1
            await eventually(lambda: _state_is(context, order_id, JobState.FAILED))
            assert provider.script == [], "the retry ran and was declined again"
            second = await run_fallback(context)
            assert (second.failed_retried, second.failed_given_up) == (0, 1)
            provider.script = []
        finally:
            await worker.close()
    assert any(
        "still capture_failed after 1 fallback retries" in r.getMessage()
        and order_id in r.getMessage()
        for r in caplog.records
    )


async def _status(context: Context, order_id: str, status: str) -> bool:
    return (await order_row(context, order_id)).payment_status == status
