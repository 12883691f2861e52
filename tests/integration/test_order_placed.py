from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from surecapture.context import Context
from surecapture.db.models import Order, ProductVariant
from surecapture.errors import PaymentError
from surecapture.events import Handler
from surecapture.payments.base import Authorization, PaymentStatus
from tests import storefront
from tests.bus import on_order_placed


async def test_order_placed_is_published_after_commit(
    client: httpx.AsyncClient, context: Context
) -> None:
    seen: list[tuple[str, str | None]] = []

    async def handler(data: dict[str, Any]) -> None:
        # A fresh connection sees the order only if the checkout transaction has committed.
        async with context.db() as session:
            status = await session.scalar(
                select(Order.payment_status).where(Order.id == data["id"])
            )
        seen.append((data["id"], status))

    with on_order_placed(context, handler):
        cart = await storefront.ready_cart(client)
        order_id = (await storefront.complete(client, cart["id"]))["order"]["id"]
        await storefront.complete(client, cart["id"])  # a repeat places nothing new
    assert seen == [(order_id, "authorized")]


async def broken_function(data: dict[str, Any]) -> None:
    raise RuntimeError("subscriber bug")


class BrokenSubscriber:
    """A callable object, as the real subscribers are: it has no __qualname__ of its own."""

    async def __call__(self, data: dict[str, Any]) -> None:
        raise RuntimeError("subscriber bug")


@pytest.mark.parametrize(
    ("broken", "name"),
    [(broken_function, "broken_function"), (BrokenSubscriber(), "BrokenSubscriber")],
)
async def test_a_failing_subscriber_is_named_and_does_not_fail_checkout(
    client: httpx.AsyncClient,
    context: Context,
    caplog: pytest.LogCaptureFixture,
    broken: Handler,
    name: str,
) -> None:
    with on_order_placed(context, broken):
        cart = await storefront.ready_cart(client)
        response = await client.post(f"/store/carts/{cart['id']}/complete")
    assert response.status_code == 200, response.text
    order_id = response.json()["order"]["id"]
    assert any(
        name in r.getMessage() and order_id in r.getMessage() and r.exc_info for r in caplog.records
    ), "the failure is logged with the subscriber and the order id"


class DecliningProvider:
    id = "pp_decline_test"

    async def authorize(self, session: AsyncSession, **_: Any) -> Authorization:
        raise PaymentError("Payment authorization failed")

    async def capture(self, session: AsyncSession, **_: Any) -> None:
        raise AssertionError("never authorized")

    async def cancel(self, session: AsyncSession, **_: Any) -> None:
        raise AssertionError("never authorized")

    async def retrieve_status(self, session: AsyncSession, **_: Any) -> PaymentStatus:
        return PaymentStatus.UNKNOWN


@pytest.fixture
async def declining(context: Context) -> AsyncIterator[str]:
    context.providers.register(DecliningProvider())
    yield DecliningProvider.id
    context.providers.unregister(DecliningProvider.id)


async def stock(context: Context, variant_id: str) -> int:
    async with context.db() as session:
        value = await session.scalar(
            select(ProductVariant.inventory_quantity).where(ProductVariant.id == variant_id)
        )
    assert value is not None
    return value


async def test_declined_payment_answers_the_cart_with_an_error(
    client: httpx.AsyncClient, context: Context, declining: str
) -> None:
    cart = await storefront.ready_cart(client)
    variant = cart["items"][0]["variant_id"]
    before = await stock(context, variant)
    await storefront.ok(
        await client.post(
            f"/store/payment-collections/{cart['payment_collection']['id']}/payment-sessions",
            json={"provider_id": declining},
        )
    )
    result = await storefront.complete(client, cart["id"])
    assert result["type"] == "cart"
    assert result["error"] == {
        "message": "Payment authorization failed",
        "name": "Error",
        "type": "payment_authorization_error",
    }
    assert result["cart"]["completed_at"] is None
    assert result["cart"]["payment_collection"]["payment_sessions"][0]["status"] == "error"
    assert await stock(context, variant) == before, "a declined checkout reserves nothing"


async def test_checkout_takes_stock_and_refuses_what_is_not_there(
    client: httpx.AsyncClient, context: Context
) -> None:
    cart = await storefront.ready_cart(client, quantity=2)
    variant = cart["items"][0]["variant_id"]
    before = await stock(context, variant)
    await storefront.complete(client, cart["id"])
    assert await stock(context, variant) == before - 2

    too_many = {"variant_id": variant, "quantity": before}
    other = await storefront.cart_with_item(client)
    response = await client.post(f"/store/carts/{other['id']}/line-items", json=too_many)
    assert response.status_code == 400
    assert response.json() == {
        "type": "not_allowed",
        "code": "insufficient_inventory",
        "message": "Some variant does not have the required inventory",
    }
