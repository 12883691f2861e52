"""Cancel within the grace window: the modification token and the capture job's state."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bullmq import Worker

from surecapture.context import Context
from surecapture.lib.payment_capture_queue import QUEUE_NAME, JobState
from surecapture.lib.redis import redis_client
from surecapture.services import modification_tokens
from surecapture.workers.payment_capture_worker import capture_order
from tests import storefront
from tests.integration.capture_fixtures import order_row, short

__all__ = ["short"]


async def placed(client: httpx.AsyncClient) -> dict[str, Any]:
    cart = await storefront.ready_cart(client)
    return await storefront.complete(client, cart["id"])


async def cancel(
    client: httpx.AsyncClient, order_id: str, token: str | bytes | None
) -> httpx.Response:
    # Text is sent as UTF-8 bytes, as a client may: the server must not assume an ASCII header.
    raw = token.encode() if isinstance(token, str) else token
    headers = {b"x-modification-token": raw} if raw is not None else {}
    return await client.post(f"/store/orders/{order_id}/cancel", headers=headers)


async def test_the_token_is_handed_out_once(client: httpx.AsyncClient) -> None:
    cart = await storefront.ready_cart(client)
    first = await storefront.complete(client, cart["id"])
    again = await storefront.complete(client, cart["id"])
    assert first["modification_token"]
    assert "modification_token" not in again


FORGED: list[str | bytes] = [
    "",
    "garbage",
    "1999999999.00",
    "1999999999.",
    b"\xb2.00",  # "²" once decoded (latin-1): a digit to str.isdigit, not to int()
    "1999999999.\u00e9",  # a signature that is not ASCII
    "9" * 5000 + ".00",  # longer than int() converts
]


@pytest.mark.parametrize("token", [None, *FORGED])
async def test_missing_or_forged_token_is_401(
    client: httpx.AsyncClient, token: str | bytes | None
) -> None:
    order = (await placed(client))["order"]
    response = await cancel(client, order["id"], token)
    assert response.status_code == 401
    assert response.json()["type"] == "unauthorized"


async def test_token_of_another_order_is_401(client: httpx.AsyncClient) -> None:
    first, second = await placed(client), await placed(client)
    response = await cancel(client, second["order"]["id"], first["modification_token"])
    assert response.status_code == 401


async def test_expired_token_is_401(client: httpx.AsyncClient, context: Context) -> None:
    order = (await placed(client))["order"]
    key = await context.modification_key()
    expired = modification_tokens.issue(key, order["id"], datetime.now(UTC) - timedelta(seconds=1))
    response = await cancel(client, order["id"], expired)
    assert response.status_code == 401
    assert "window has ended" in response.json()["message"]


async def test_cancel_after_capture_is_409(short: tuple[httpx.AsyncClient, Context]) -> None:
    client, context = short
    result = await placed(client)
    order_id = result["order"]["id"]
    due = (await order_row(context, order_id)).capture_due_at
    await capture_order(context, order_id, now=due)
    key = await context.modification_key()
    still_valid = modification_tokens.issue(key, order_id, datetime.now(UTC) + timedelta(hours=1))
    response = await cancel(client, order_id, still_valid)
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state_error"
    assert (await order_row(context, order_id)).payment_status == "captured"


async def test_cancel_while_the_job_runs_is_409_and_changes_nothing(
    short: tuple[httpx.AsyncClient, Context],
) -> None:
    client, context = short
    result = await placed(client)
    order_id = result["order"]["id"]
    release = asyncio.Event()
    taken = asyncio.Event()

    async def slow_processor(job: Any, token: str) -> None:
        # Other tests' due jobs may share this queue: hold only ours.
        if job.data["order_id"] == order_id:
            taken.set()
            await release.wait()

    settings = context.settings
    worker = Worker(
        QUEUE_NAME,
        slow_processor,
        {
            "connection": redis_client(settings.redis, read_timeout=15),
            "prefix": settings.queue_prefix,
            "concurrency": 5,
        },
    )
    try:
        await asyncio.wait_for(taken.wait(), timeout=15)
        assert await context.queue.job_state(order_id) is JobState.ACTIVE
        key = await context.modification_key()
        token = modification_tokens.issue(key, order_id, datetime.now(UTC) + timedelta(hours=1))
        response = await cancel(client, order_id, token)
        assert response.status_code == 409
        order = await order_row(context, order_id)
        assert (order.payment_status, order.canceled_at) == ("authorized", None)
    finally:
        release.set()
        await worker.close()


async def test_admin_can_cancel(admin: httpx.AsyncClient, context: Context) -> None:
    order_id = (await placed(admin))["order"]["id"]
    response = await admin.post(f"/admin/orders/{order_id}/cancel")
    assert response.status_code == 200
    assert response.json()["order"]["payment_status"] == "canceled"
    assert response.json()["order"]["status"] == "canceled"
    again = await admin.post(f"/admin/orders/{order_id}/cancel")
    assert again.status_code == 200, "cancelling twice is harmless"
