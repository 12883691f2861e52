"""Delayed capture end to end: real Postgres, real Redis (this run's prefix), the real worker."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import pytest

from surecapture.context import Context
from surecapture.errors import Conflict
from surecapture.lib.payment_capture_queue import JobState
from surecapture.services.cancel_order import cancel_order
from surecapture.workers.payment_capture_worker import Outcome, capture_order
from tests import storefront
from tests.integration.capture_fixtures import (
    ScriptedProvider,
    captures_of,
    ledger,
    order_row,
    short,
    start_worker,
)
from tests.waiting import eventually

__all__ = ["short", "start_worker"]  # fixtures


async def place(client: httpx.AsyncClient, provider: str = "pp_system_default") -> dict[str, Any]:
    cart = await storefront.ready_cart(client)
    if provider != "pp_system_default":
        await storefront.ok(
            await client.post(
                f"/store/payment-collections/{cart['payment_collection']['id']}/payment-sessions",
                json={"provider_id": provider},
            )
        )
    return await storefront.complete(client, cart["id"])


async def captured(context: Context, order_id: str) -> bool:
    return (await order_row(context, order_id)).payment_status == "captured"


async def test_worker_captures_exactly_once_never_before_due(
    short: tuple[httpx.AsyncClient, Context], start_worker: Callable[..., Any]
) -> None:
    client, context = short
    order_id = (await place(client))["order"]["id"]
    assert await context.queue.job_state(order_id) is JobState.DELAYED
    await start_worker(context)
    await eventually(lambda: captured(context, order_id))

    order = await order_row(context, order_id)
    assert order.captured_at is not None and order.captured_at >= order.capture_due_at
    assert order.captured_amount == order.total
    assert await ledger(context, order.payment_reference) == [
        ("authorize", order.total),
        ("capture", order.total),
    ]
    assert await captures_of(context, order_id) == 1
    assert await eventually(lambda: _completed(context, order_id))


async def _completed(context: Context, order_id: str) -> bool:
    return await context.queue.job_state(order_id) is JobState.COMPLETED


async def test_job_delivered_twice_captures_once(short: tuple[httpx.AsyncClient, Context]) -> None:
    client, context = short
    order_id = (await place(client))["order"]["id"]
    due = (await order_row(context, order_id)).capture_due_at
    later = datetime.now(UTC).replace(microsecond=0) if datetime.now(UTC) > due else due
    results = await asyncio.gather(*(capture_order(context, order_id, now=later) for _ in range(5)))
    assert sorted(r.outcome for r in results) == sorted(
        [Outcome.CAPTURED] + [Outcome.ALREADY_CAPTURED] * 4
    )
    order = await order_row(context, order_id)
    assert [k for k, _ in await ledger(context, order.payment_reference)].count("capture") == 1


async def test_capture_before_due_is_refused(short: tuple[httpx.AsyncClient, Context]) -> None:
    client, context = short
    order_id = (await place(client))["order"]["id"]
    result = await capture_order(context, order_id)
    assert result.outcome is Outcome.NOT_DUE
    assert (await order_row(context, order_id)).payment_status == "authorized"


async def test_two_workers_on_one_queue_capture_each_order_once(
    short: tuple[httpx.AsyncClient, Context], start_worker: Callable[..., Any]
) -> None:
    client, context = short
    order_ids = [(await place(client))["order"]["id"] for _ in range(12)]
    await start_worker(context, concurrency=4)
    await start_worker(context, concurrency=4)
    for order_id in order_ids:
        await eventually(partial(captured, context, order_id))
    for order_id in order_ids:
        order = await order_row(context, order_id)
        assert await captures_of(context, order_id) == 1
        kinds = [k for k, _ in await ledger(context, order.payment_reference)]
        assert kinds.count("capture") == 1


@pytest.fixture
async def scripted_short(
    short: tuple[httpx.AsyncClient, Context],
) -> AsyncIterator[tuple[httpx.AsyncClient, Context, ScriptedProvider]]:
    client, context = short
    provider = ScriptedProvider()
    context.providers.register(provider)
    yield client, context, provider


async def test_retryable_failures_are_retried_then_capture(
    scripted_short: tuple[httpx.AsyncClient, Context, ScriptedProvider],
    start_worker: Callable[..., Any],
) -> None:
    client, context, provider = scripted_short
    provider.script = ["retryable", "retryable"]
    order_id = (await place(client, provider.id))["order"]["id"]
    await start_worker(context)
    await eventually(lambda: captured(context, order_id))
    assert [key for _, _, key in provider.captures] == [f"capture-{order_id}"]


async def test_failures_until_the_last_attempt_end_capture_failed_with_dlq_line(
    scripted_short: tuple[httpx.AsyncClient, Context, ScriptedProvider],
    start_worker: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, context, provider = scripted_short
    provider.script = ["retryable"] * 3
    order_id = (await place(client, provider.id))["order"]["id"]
    await start_worker(context)

    async def failed() -> bool:
        return (await order_row(context, order_id)).payment_status == "capture_failed"

    await eventually(failed)
    assert provider.captures == []
    dlq = [r for r in caplog.records if "[CRITICAL][DLQ]" in r.getMessage()]
    assert len(dlq) == 1
    assert dlq[0].levelno == logging.CRITICAL
    assert f"Payment capture permanently failed for order {order_id}" in dlq[0].getMessage()
    assert await eventually(lambda: _failed(context, order_id))


async def _failed(context: Context, order_id: str) -> bool:
    return await context.queue.job_state(order_id) is JobState.FAILED


async def test_a_decline_at_capture_fails_at_once(
    scripted_short: tuple[httpx.AsyncClient, Context, ScriptedProvider],
    start_worker: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, context, provider = scripted_short
    provider.script = ["declined", "ok", "ok"]
    order_id = (await place(client, provider.id))["order"]["id"]
    await start_worker(context)

    async def failed() -> bool:
        return (await order_row(context, order_id)).payment_status == "capture_failed"

    await eventually(failed)
    assert provider.script == ["ok", "ok"], "no retry after a decline"
    assert any(
        "card_declined" in r.getMessage() and "[CRITICAL][DLQ]" in r.getMessage()
        for r in caplog.records
    )


async def test_cancel_before_due_voids_and_nothing_is_ever_captured(
    short: tuple[httpx.AsyncClient, Context], start_worker: Callable[..., Any]
) -> None:
    client, context = short
    placed = await place(client)
    order_id = placed["order"]["id"]
    response = await client.post(
        f"/store/orders/{order_id}/cancel",
        headers={"x-modification-token": placed["modification_token"]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["order"]["payment_status"] == "canceled"
    assert await context.queue.job_state(order_id) is JobState.MISSING

    order = await order_row(context, order_id)
    await start_worker(context)
    after_due = order.capture_due_at
    assert (await capture_order(context, order_id, now=after_due)).outcome is Outcome.CANCELED
    assert [k for k, _ in await ledger(context, order.payment_reference)] == ["authorize", "cancel"]


async def test_cancel_racing_capture_never_ends_both(
    short: tuple[httpx.AsyncClient, Context],
) -> None:
    client, context = short
    order_ids = [(await place(client))["order"]["id"] for _ in range(10)]
    due = max([(await order_row(context, oid)).capture_due_at for oid in order_ids])

    async def try_cancel(order_id: str) -> str:
        try:
            await cancel_order(context, order_id)
        except Conflict:
            return "refused"
        return "canceled"

    for order_id in order_ids:
        capture, cancel = await asyncio.gather(
            capture_order(context, order_id, now=due), try_cancel(order_id)
        )
        order = await order_row(context, order_id)
        kinds = [k for k, _ in await ledger(context, order.payment_reference)]
        if order.payment_status == "captured":
            assert (capture.outcome, cancel) == (Outcome.CAPTURED, "refused")
            assert "cancel" not in kinds and kinds.count("capture") == 1
        else:
            assert order.payment_status == "canceled"
            assert (capture.outcome, cancel) == (Outcome.CANCELED, "canceled")
            assert "capture" not in kinds and kinds.count("cancel") == 1
