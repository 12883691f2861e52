"""Checkout and capture through pp_stripe_stripe: the real `stripe` SDK against the fake Stripe."""

from collections.abc import Callable
from typing import Any

import httpx

from surecapture.context import Context
from surecapture.money import to_minor
from tests import storefront
from tests.fakes.fake_stripe import FakeStripe
from tests.integration.capture_fixtures import order_row, start_worker, stripe_short
from tests.waiting import eventually

__all__ = ["start_worker", "stripe_short"]


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
