import asyncio
from functools import partial

import httpx
from sqlalchemy import select

from surecapture.context import Context
from surecapture.db.models import (
    Cart,
    Customer,
    Product,
    ProductVariant,
    SalesChannel,
    VariantPrice,
)
from surecapture.ids import new_id
from surecapture.services import carts
from surecapture.services.scope import KeyScope
from tests import storefront
from tests.waiting import eventually, transactions_waiting


async def test_same_variant_and_metadata_increases_quantity(client: httpx.AsyncClient) -> None:
    cart = await storefront.cart_with_item(client)
    line = cart["items"][0]
    body = {"variant_id": line["variant_id"], "quantity": 2}
    cart = (
        await storefront.ok(await client.post(f"/store/carts/{cart['id']}/line-items", json=body))
    )["cart"]
    assert [(i["id"], i["quantity"]) for i in cart["items"]] == [(line["id"], 3)]

    body["metadata"] = {"gift": True}
    cart = (
        await storefront.ok(await client.post(f"/store/carts/{cart['id']}/line-items", json=body))
    )["cart"]
    assert len(cart["items"]) == 2


async def test_line_item_quantity_is_absolute_and_delete_returns_parent(
    client: httpx.AsyncClient,
) -> None:
    cart = await storefront.cart_with_item(client)
    line_id = cart["items"][0]["id"]
    cart = (
        await storefront.ok(
            await client.post(
                f"/store/carts/{cart['id']}/line-items/{line_id}", json={"quantity": 5}
            )
        )
    )["cart"]
    assert cart["items"][0]["quantity"] == 5
    assert cart["item_subtotal"] == 99.95

    deleted = await storefront.ok(
        await client.delete(f"/store/carts/{cart['id']}/line-items/{line_id}")
    )
    assert deleted["id"] == line_id
    assert deleted["object"] == "line-item"
    assert deleted["deleted"] is True
    assert deleted["parent"]["items"] == []


async def test_total_change_deletes_payment_sessions(client: httpx.AsyncClient) -> None:
    cart = await storefront.ready_cart(client)
    assert len(cart["payment_collection"]["payment_sessions"]) == 1
    body = {"variant_id": cart["items"][0]["variant_id"], "quantity": 1}
    cart = (
        await storefront.ok(await client.post(f"/store/carts/{cart['id']}/line-items", json=body))
    )["cart"]
    assert cart["payment_collection"]["payment_sessions"] == []
    assert cart["payment_collection"]["amount"] == cart["total"]


async def test_single_country_region_prefills_the_shipping_country(
    client: httpx.AsyncClient,
) -> None:
    region = await storefront.region(client, "usd")
    cart = (
        await storefront.ok(await client.post("/store/carts", json={"region_id": region["id"]}))
    )["cart"]
    assert cart["shipping_address"]["country_code"] == "us"
    assert cart["currency_code"] == "usd"
    assert cart["completed_at"] is None


async def test_setting_an_email_makes_a_guest_customer(client: httpx.AsyncClient) -> None:
    cart = await storefront.cart_with_item(client)
    cart = (
        await storefront.ok(
            await client.post(f"/store/carts/{cart['id']}", json={"email": "guest@example.com"})
        )
    )["cart"]
    assert cart["customer"]["email"] == "guest@example.com"
    assert cart["customer"]["id"].startswith("cus_")


async def test_an_email_another_transaction_is_adding_as_a_customer_is_shared(
    client: httpx.AsyncClient, context: Context
) -> None:
    # Another cart's transaction has written the new customer and not yet committed when this
    # cart is given the same email: this one must wait for it and use its customer.
    cart_id = (await storefront.cart_with_item(client))["id"]
    email = f"{new_id('guest')}@example.com"
    async with context.db.begin() as other:
        other.add(Customer(id=new_id("cus"), email=email, has_account=False))
        await other.flush()
        update = asyncio.create_task(
            carts.update_cart(context.db, KeyScope("apk_test", ()), cart_id, {"email": email})
        )
        # The update waits on the unique email.
        await eventually(partial(transactions_waiting, context.engine, 1))
    await update
    async with context.db() as session:
        customer = await session.scalar(
            select(Customer).join(Cart, Cart.customer_id == Customer.id).where(Cart.id == cart_id)
        )
    assert customer is not None and customer.email == email


async def test_shipping_option_of_another_region_is_refused(client: httpx.AsyncClient) -> None:
    usd_cart = await storefront.cart_with_item(client, "usd")
    eur_cart = await storefront.cart_with_item(client, "eur")
    options = await storefront.ok(
        await client.get("/store/shipping-options", params={"cart_id": eur_cart["id"]})
    )
    response = await client.post(
        f"/store/carts/{usd_cart['id']}/shipping-methods",
        json={"option_id": options["shipping_options"][0]["id"]},
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Shipping Options are invalid for cart."


async def test_changing_region_reprices_items(client: httpx.AsyncClient) -> None:
    cart = await storefront.cart_with_item(client, "usd")
    jpy = await storefront.region(client, "jpy")
    cart = (
        await storefront.ok(
            await client.post(f"/store/carts/{cart['id']}", json={"region_id": jpy["id"]})
        )
    )["cart"]
    assert cart["currency_code"] == "jpy"
    assert cart["items"][0]["unit_price"] == 2900


async def test_products_carry_prices_of_the_region(client: httpx.AsyncClient) -> None:
    region = await storefront.region(client, "kwd")
    body = await storefront.ok(
        await client.get(
            "/store/products",
            params={
                "region_id": region["id"],
                "fields": "*variants.calculated_price,+variants.inventory_quantity",
            },
        )
    )
    variant = body["products"][0]["variants"][0]
    assert variant["calculated_price"]["currency_code"] == "kwd"
    assert variant["calculated_price"]["calculated_amount"] == 6.15
    assert variant["inventory_quantity"] > 0
    plain = await storefront.ok(await client.get("/store/products"))
    assert "calculated_price" not in plain["products"][0]["variants"][0]
    assert body["count"] == plain["count"] >= 2


async def gift_card(
    context: Context, *, status: str = "published", channel_id: str | None = None
) -> str:
    """A variant whose stock is not managed (nothing but the column's range bounds its
    quantity), of a product in `channel_id` if given; returns its id."""
    async with context.db.begin() as session:
        channels = [await session.get(SalesChannel, channel_id)] if channel_id else []
        product = Product(
            id=new_id("prod"),
            title="Gift card",
            handle=new_id("gift"),
            status=status,
            sales_channels=channels,
        )
        variant = ProductVariant(id=new_id("variant"), product=product, title="Any amount")
        session.add_all([product, variant])
        await session.flush()
        session.add(
            VariantPrice(id=new_id("price"), variant_id=variant.id, currency_code="usd", amount=5)
        )
    return variant.id


async def test_adding_a_line_past_the_largest_quantity_is_400(
    client: httpx.AsyncClient, context: Context
) -> None:
    cart = await storefront.cart_with_item(client)
    variant_id = await gift_card(context, channel_id=cart["sales_channel_id"])
    path = f"/store/carts/{cart['id']}/line-items"
    body = {"variant_id": variant_id, "quantity": carts.MAX_QUANTITY}
    await storefront.ok(await client.post(path, json=body))

    response = await client.post(path, json={**body, "quantity": 1})

    assert response.status_code == 400, response.text
    assert response.json() == {
        "type": "invalid_data",
        "message": f"Invalid request: the line item's quantity would exceed {carts.MAX_QUANTITY}",
    }


async def test_a_variant_outside_the_carts_sales_channel_is_refused(
    client: httpx.AsyncClient, context: Context
) -> None:
    cart = await storefront.cart_with_item(client)
    variant_id = await gift_card(context)  # in no sales channel

    response = await client.post(
        f"/store/carts/{cart['id']}/line-items", json={"variant_id": variant_id, "quantity": 1}
    )

    assert response.status_code == 400, response.text
    assert response.json() == {
        "type": "invalid_data",
        "message": f"Sales channel {cart['sales_channel_id']} is not associated with variants: "
        f"{variant_id}",
    }


async def test_a_variant_of_an_unpublished_product_is_not_found(
    client: httpx.AsyncClient, context: Context
) -> None:
    cart = await storefront.cart_with_item(client)
    variant_id = await gift_card(context, status="draft", channel_id=cart["sales_channel_id"])

    response = await client.post(
        f"/store/carts/{cart['id']}/line-items", json={"variant_id": variant_id, "quantity": 1}
    )

    assert response.status_code == 404, response.text
    assert response.json()["message"] == f"Variant with id: {variant_id} was not found"


async def test_a_sales_channel_outside_the_keys_scope_is_refused_at_create_and_update(
    client: httpx.AsyncClient, context: Context
) -> None:
    async with context.db.begin() as session:
        other = SalesChannel(id=new_id("sc"), name="Wholesale")
        session.add(other)
    cart = await storefront.cart_with_item(client)
    errors = [
        f"Sales channel ID in payload {other.id} is not associated with the Publishable API Key "
        "in the header."
    ]

    created = await client.post("/store/carts", json={"sales_channel_id": other.id})
    updated = await client.post(f"/store/carts/{cart['id']}", json={"sales_channel_id": other.id})

    assert (created.status_code, updated.status_code) == (400, 400), updated.text
    assert created.json()["errors"] == updated.json()["errors"] == errors
    read = await storefront.ok(await client.get(f"/store/carts/{cart['id']}"))
    assert read["cart"]["sales_channel_id"] == cart["sales_channel_id"]


async def test_a_currency_other_than_the_regions_is_refused(client: httpx.AsyncClient) -> None:
    region = await storefront.region(client, "usd")
    response = await client.post(
        "/store/carts", json={"region_id": region["id"], "currency_code": "jpy"}
    )
    assert response.status_code == 400, response.text
    assert response.json() == {
        "type": "invalid_data",
        "message": f"Currency jpy is not the currency of region {region['id']} (usd)",
    }


async def test_products_carry_their_options_and_each_variant_its_values(
    client: httpx.AsyncClient,
) -> None:
    # A storefront picks a variant by its option values: each must be told apart by them.
    region = await storefront.region(client)
    body = await storefront.ok(
        await client.get("/store/products", params={"region_id": region["id"], "handle": "t-shirt"})
    )
    shirt = body["products"][0]
    [size] = shirt["options"]
    assert size["title"] == "Size" and size["product_id"] == shirt["id"]
    assert sorted(v["value"] for v in size["values"]) == ["M", "S"]
    picked = {
        tuple((o["option_id"], o["value"]) for o in variant["options"]): variant["title"]
        for variant in shirt["variants"]
    }
    assert picked == {((size["id"], "S"),): "S", ((size["id"], "M"),): "M"}
    assert all(
        o["option"] == {"id": size["id"], "title": "Size"}
        for variant in shirt["variants"]
        for o in variant["options"]
    )
