"""Checkout and capture through pp_stripe_stripe: the real `stripe` SDK against the fake Stripe."""

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select

from surecapture.context import Context
from surecapture.db.models import Capture, Order
from surecapture.jobs.fallback_capture import run_fallback
from surecapture.money import to_minor
from surecapture.services.order_service import CAPTURE_RETRIES_KEY
from tests import storefront
from tests.conftest import ADMIN_TOKEN
from tests.fakes.fake_stripe import FakeStripe
from tests.integration.capture_fixtures import (
    order_row,
    start_worker,
    stripe_short,
    stripe_short_own_database,
)
from tests.waiting import eventually

__all__ = ["start_worker", "stripe_short", "stripe_short_own_database"]


async def stripe_checkout(
    client: httpx.AsyncClient, payment_method: str = "pm_card_visa"
) -> dict[str, Any]:
    cart = await storefront.ready_cart(client, quantity=2)
    await storefront.ok(
        await client.post(
            f"/store/payment-collections/{cart['payment_collection']['id']}/payment-sessions",
            json={"provider_id": "pp_stripe_stripe", "data": {"payment_method": payment_method}},
        )
    )
    return await storefront.complete(client, cart["id"])


async def status_of(context: Context, order_id: str, status: str) -> bool:
    return (await order_row(context, order_id)).payment_status == status


async def test_stripe_order_is_captured_once_with_its_total_after_due(
    stripe_short: tuple[httpx.AsyncClient, Context, FakeStripe], start_worker: Callable[..., Any]
) -> None:
    client, context, fake = stripe_short
    result = await stripe_checkout(client)
    assert result["type"] == "order"
    order_id = result["order"]["id"]
    order = await order_row(context, order_id)
    assert order.payment_reference.startswith("pi_")
    assert fake.payment_intent(order.payment_reference)["status"] == "requires_capture"
    assert fake.captures_for(order.payment_reference) == []

    await start_worker(context)
    await eventually(lambda: status_of(context, order_id, "captured"))
    order = await order_row(context, order_id)
    assert fake.captures_for(order.payment_reference) == [order.total]
    assert order.captured_at is not None and order.captured_at >= order.capture_due_at


async def test_declined_card_answers_the_cart_with_the_error(
    stripe_short: tuple[httpx.AsyncClient, Context, FakeStripe],
) -> None:
    client, _, fake = stripe_short
    result = await stripe_checkout(client, payment_method="pm_card_chargeDeclined")
    assert result["type"] == "cart"
    assert result["error"]["type"] == "payment_authorization_error"
    assert result["cart"]["completed_at"] is None
    assert fake.captures == []


async def test_a_lost_capture_response_then_retry_charges_once(
    stripe_short: tuple[httpx.AsyncClient, Context, FakeStripe], start_worker: Callable[..., Any]
) -> None:
    """Stripe captured, but the answer never arrived (client timeout): the retry replays the
    same idempotency key, and the customer is charged once."""
    client, context, fake = stripe_short
    order_id = (await stripe_checkout(client))["order"]["id"]
    fake.hang_after_apply_next(1, seconds=5, endpoint="capture")
    await start_worker(context)
    await eventually(lambda: status_of(context, order_id, "captured"))
    order = await order_row(context, order_id)
    assert fake.captures_for(order.payment_reference) == [order.total]
    assert len(fake.requests_to("capture")) >= 2, "the first attempt timed out and was retried"


async def test_stripe_500s_until_the_last_attempt_end_capture_failed(
    stripe_short: tuple[httpx.AsyncClient, Context, FakeStripe], start_worker: Callable[..., Any]
) -> None:
    client, context, fake = stripe_short
    order_id = (await stripe_checkout(client))["order"]["id"]
    fake.fail_next_captures(3, status=500)
    await start_worker(context)
    await eventually(lambda: status_of(context, order_id, "capture_failed"))
    order = await order_row(context, order_id)
    assert fake.captures_for(order.payment_reference) == []
    assert len(fake.requests_to("capture")) == 3


async def test_cancel_voids_the_payment_intent(
    stripe_short: tuple[httpx.AsyncClient, Context, FakeStripe],
) -> None:
    client, context, fake = stripe_short
    result = await stripe_checkout(client)
    order_id = result["order"]["id"]
    response = await client.post(
        f"/store/orders/{order_id}/cancel",
        headers={"x-modification-token": result["modification_token"]},
    )
    assert response.status_code == 200
    order = await order_row(context, order_id)
    assert fake.payment_intent(order.payment_reference)["status"] == "canceled"


async def test_one_confirmed_payment_intent_pays_for_one_order_only(
    stripe_short: tuple[httpx.AsyncClient, Context, FakeStripe],
) -> None:
    # A storefront sends the id of a PaymentIntent it confirmed itself; sent again for a second
    # cart of the same total, it must not make a second order (whose capture would find the
    # intent already captured and record money never collected).
    client, context, fake = stripe_short
    first, second = [await storefront.ready_cart(client) for _ in range(2)]
    assert first["total"] == second["total"]
    intent = fake.add_payment_intent(amount=to_minor(str(first["total"]), "usd"))
    for cart in (first, second):
        await storefront.ok(
            await client.post(
                f"/store/payment-collections/{cart['payment_collection']['id']}/payment-sessions",
                json={"provider_id": "pp_stripe_stripe", "data": {"payment_intent_id": intent}},
            )
        )

    placed = await storefront.complete(client, first["id"])
    refused = await storefront.complete(client, second["id"])

    assert placed["type"] == "order", placed.get("error")
    assert (await order_row(context, placed["order"]["id"])).payment_reference == intent
    assert refused["type"] == "cart"
    assert refused["cart"]["completed_at"] is None
    assert refused["error"] == {
        "type": "payment_authorization_error",
        "name": "Error",
        "message": (
            f"Payment authorization failed: payment {intent} already pays for another order"
        ),
    }


async def failed_for_good(
    client: httpx.AsyncClient, context: Context, fake: FakeStripe, start_worker: Any
) -> Order:
    """An order whose capture met a 500 that Stripe saved under the key: every attempt of the
    worker got it back, and the order ended capture_failed."""
    order_id = (await stripe_checkout(client))["order"]["id"]
    fake.fail_saved_next(1, endpoint="capture")
    await start_worker(context)
    await eventually(lambda: status_of(context, order_id, "capture_failed"))
    order = await order_row(context, order_id)
    assert {r.idempotency_key for r in fake.requests_to("capture")} == {f"capture-{order_id}"}
    assert len(fake.replays) == 2  # the second and third attempts
    assert fake.captures_for(order.payment_reference) == []
    return order


async def capture_key(context: Context, order_id: str) -> str | None:
    async with context.db() as session:
        key: str | None = await session.scalar(
            select(Capture.idempotency_key).where(Capture.order_id == order_id)
        )
    return key


async def test_the_fallback_retries_a_failed_capture_under_a_fresh_key(
    stripe_short_own_database: tuple[httpx.AsyncClient, Context, FakeStripe],
    start_worker: Callable[..., Any],
) -> None:
    client, context, fake = stripe_short_own_database
    order = await failed_for_good(client, context, fake, start_worker)

    summary = await run_fallback(context)

    assert summary.failed_retried == 1
    await eventually(lambda: status_of(context, order.id, "captured"))
    assert fake.captures_for(order.payment_reference) == [order.total]
    key = await capture_key(context, order.id)
    assert key is not None and key.startswith(f"capture-{order.id}-retry_")


async def test_an_operator_retries_a_failed_capture(
    stripe_short: tuple[httpx.AsyncClient, Context, FakeStripe], start_worker: Callable[..., Any]
) -> None:
    client, context, fake = stripe_short
    order = await failed_for_good(client, context, fake, start_worker)
    # The fallback job had already spent its retries on it.
    await context.orders.update_orders([{"id": order.id, "metadata": {CAPTURE_RETRIES_KEY: 3}}])
    admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}

    response = await client.post(f"/admin/orders/{order.id}/retry-capture", headers=admin)

    assert response.status_code == 202, response.text
    assert response.json()["order"]["metadata"][CAPTURE_RETRIES_KEY] == 0
    await eventually(lambda: status_of(context, order.id, "captured"))
    assert fake.captures_for(order.payment_reference) == [order.total]
    again = await client.post(f"/admin/orders/{order.id}/retry-capture", headers=admin)
    assert again.status_code == 409
    assert again.json() == {
        "type": "conflict",
        "code": "invalid_state_error",
        "message": f"Order {order.id} is captured: only a capture_failed order's capture can be "
        "retried",
    }
    missing = await client.post("/admin/orders/order_nope/retry-capture", headers=admin)
    assert missing.status_code == 404
