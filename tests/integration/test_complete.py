import asyncio
from functools import partial

import httpx
import pytest
from sqlalchemy import func, select

from surecapture.context import Context
from surecapture.db.models import Order, ProductVariant
from tests import storefront
from tests.waiting import eventually, transactions_waiting


async def test_complete_answers_the_order_with_its_capture_state(client: httpx.AsyncClient) -> None:
    cart = await storefront.ready_cart(client, quantity=2)
    result = await storefront.complete(client, cart["id"])
    order = result["order"]
    assert result["type"] == "order"
    assert order["status"] == "pending"
    assert order["payment_status"] == "authorized"
    assert order["capture_due_at"] > order["created_at"]
    assert order["metadata"] == {}
    assert order["shipping_address"]["country_code"] == "us"
    assert order["items"][0]["id"].startswith("ordli_")
    assert order["payment_collections"][0]["payments"][0]["id"].startswith("pay_")
    assert (order["item_total"], order["shipping_total"], order["total"]) == (39.98, 8, 47.98)

    fetched = await storefront.ok(await client.get(f"/store/orders/{order['id']}"))
    assert fetched["order"]["id"] == order["id"]
    done = await storefront.ok(await client.get(f"/store/carts/{cart['id']}"))
    assert done["cart"]["completed_at"] is not None


async def test_a_second_complete_returns_the_same_order(client: httpx.AsyncClient) -> None:
    cart = await storefront.ready_cart(client)
    first = await storefront.complete(client, cart["id"])
    second = await storefront.complete(client, cart["id"])
    assert second["order"]["id"] == first["order"]["id"]


async def test_twenty_concurrent_completes_make_one_order(
    client: httpx.AsyncClient, context: Context
) -> None:
    cart = await storefront.ready_cart(client)
    responses = await asyncio.gather(
        *(client.post(f"/store/carts/{cart['id']}/complete") for _ in range(20))
    )
    assert [r.status_code for r in responses] == [200] * 20
    assert len({r.json()["order"]["id"] for r in responses}) == 1
    async with context.db() as session:
        count = await session.scalar(select(func.count()).where(Order.cart_id == cart["id"]))
    assert count == 1


@pytest.mark.parametrize(
    ("currency", "unit", "shipping"), [("usd", 19.99, 8), ("jpy", 2900, 900), ("kwd", 6.15, 1.5)]
)
async def test_money_round_trips(
    client: httpx.AsyncClient, context: Context, currency: str, unit: float, shipping: float
) -> None:
    cart = await storefront.ready_cart(client, currency, quantity=3)
    assert cart["items"][0]["unit_price"] == unit
    order = (await storefront.complete(client, cart["id"]))["order"]
    assert order["total"] == cart["total"]
    assert order["items"][0]["unit_price"] == unit
    assert order["shipping_total"] == shipping
    async with context.db() as session:
        stored = await session.get(Order, order["id"])
    assert stored is not None
    minor = {"usd": 100, "jpy": 1, "kwd": 1000}[currency]
    assert stored.total == round(3 * unit * minor) + round(shipping * minor)
    assert isinstance(stored.total, int)


async def test_empty_cart_cannot_be_completed(client: httpx.AsyncClient) -> None:
    region = await storefront.region(client)
    cart = (
        await storefront.ok(await client.post("/store/carts", json={"region_id": region["id"]}))
    )["cart"]
    response = await client.post(f"/store/carts/{cart['id']}/complete")
    assert response.status_code == 400
    assert response.json()["type"] == "invalid_data"


async def test_cart_without_payment_collection_cannot_be_completed(
    client: httpx.AsyncClient,
) -> None:
    cart = await storefront.cart_with_item(client)
    response = await client.post(f"/store/carts/{cart['id']}/complete")
    assert response.status_code == 400
    assert response.json()["message"] == "Payment collection has not been initiated for cart"


async def test_cart_without_payment_session_cannot_be_completed(client: httpx.AsyncClient) -> None:
    cart = await storefront.ready_cart(client)
    body = {"variant_id": cart["items"][0]["variant_id"], "quantity": 1}
    await storefront.ok(await client.post(f"/store/carts/{cart['id']}/line-items", json=body))
    response = await client.post(f"/store/carts/{cart['id']}/complete")
    assert response.status_code == 400
    assert response.json()["message"] == "Payment sessions are required to complete cart"


async def test_cart_without_shipping_method_cannot_be_completed(client: httpx.AsyncClient) -> None:
    cart = await storefront.cart_with_item(client)
    collection = await storefront.ok(
        await client.post("/store/payment-collections", json={"cart_id": cart["id"]})
    )
    await storefront.ok(
        await client.post(
            f"/store/payment-collections/{collection['payment_collection']['id']}/payment-sessions",
            json={"provider_id": "pp_system_default"},
        )
    )
    response = await client.post(f"/store/carts/{cart['id']}/complete")
    assert response.status_code == 400
    assert response.json()["message"] == (
        "No shipping method selected but the cart contains items that require shipping."
    )


async def test_completed_cart_refuses_edits(client: httpx.AsyncClient) -> None:
    cart = await storefront.ready_cart(client)
    await storefront.complete(client, cart["id"])
    line = cart["items"][0]
    expected = {"type": "invalid_data", "message": f"Cart {cart['id']} is already completed."}
    attempts = [
        client.post(f"/store/carts/{cart['id']}", json={"email": "x@example.com"}),
        client.post(
            f"/store/carts/{cart['id']}/line-items",
            json={"variant_id": line["variant_id"], "quantity": 1},
        ),
        client.post(f"/store/carts/{cart['id']}/line-items/{line['id']}", json={"quantity": 2}),
        client.delete(f"/store/carts/{cart['id']}/line-items/{line['id']}"),
    ]
    for attempt in attempts:
        response = await attempt
        assert (response.status_code, response.json()) == (400, expected)


async def test_unknown_payment_provider_is_404(client: httpx.AsyncClient) -> None:
    cart = await storefront.cart_with_item(client)
    collection = await storefront.ok(
        await client.post("/store/payment-collections", json={"cart_id": cart["id"]})
    )
    response = await client.post(
        f"/store/payment-collections/{collection['payment_collection']['id']}/payment-sessions",
        json={"provider_id": "pp_nope"},
    )
    assert response.status_code == 404


async def test_payment_providers_of_a_region(client: httpx.AsyncClient) -> None:
    region = await storefront.region(client)
    body = await storefront.ok(
        await client.get("/store/payment-providers", params={"region_id": region["id"]})
    )
    assert {"id": "pp_system_default", "is_enabled": True} in body["payment_providers"]


async def test_carts_holding_the_same_variants_in_other_orders_complete_without_deadlock(
    client: httpx.AsyncClient, context: Context
) -> None:
    region = await storefront.region(client)
    products = await storefront.ok(
        await client.get("/store/products", params={"region_id": region["id"]})
    )
    first, second = [v["id"] for v in products["products"][0]["variants"][:2]]
    one = (await storefront.ready_cart(client, variants=[first, second]))["id"]
    other = (await storefront.ready_cart(client, variants=[second, first]))["id"]
    # Another transaction holds the first variant's row. The first checkout queues on it; then
    # the other starts: had it taken the second variant before queueing on the first, the two
    # would deadlock once the row is free (the first checkout gets it, then needs the second).
    async with context.db.begin() as blocker:
        await blocker.execute(
            select(ProductVariant.id).where(ProductVariant.id == first).with_for_update()
        )
        completes = [asyncio.create_task(client.post(f"/store/carts/{one}/complete"))]
        await eventually(partial(transactions_waiting, context.engine, 1))
        completes.append(asyncio.create_task(client.post(f"/store/carts/{other}/complete")))
        await eventually(partial(transactions_waiting, context.engine, 2))
    answers = await asyncio.gather(*completes)
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert {a.json()["type"] for a in answers} == {"order"}
