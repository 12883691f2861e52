"""Store API steps a storefront takes, as small helpers (tests read like a checkout)."""

from __future__ import annotations

from typing import Any

import httpx


async def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def region(client: httpx.AsyncClient, currency: str = "usd") -> dict[str, Any]:
    regions = (await ok(await client.get("/store/regions")))["regions"]
    return next(r for r in regions if r["currency_code"] == currency)


async def variant_id(client: httpx.AsyncClient, region_id: str) -> str:
    body = await ok(await client.get("/store/products", params={"region_id": region_id}))
    return str(body["products"][0]["variants"][0]["id"])


async def cart_with_item(
    client: httpx.AsyncClient, currency: str = "usd", quantity: int = 1
) -> dict[str, Any]:
    reg = await region(client, currency)
    cart = (await ok(await client.post("/store/carts", json={"region_id": reg["id"]})))["cart"]
    variant = await variant_id(client, reg["id"])
    body = {"variant_id": variant, "quantity": quantity}
    return (await ok(await client.post(f"/store/carts/{cart['id']}/line-items", json=body)))["cart"]


async def ready_cart(
    client: httpx.AsyncClient, currency: str = "usd", quantity: int = 1
) -> dict[str, Any]:
    """A cart with an item, an address, a shipping method and a payment session."""
    cart = await cart_with_item(client, currency, quantity)
    country = cart["region"]["countries"][0]["iso_2"]
    address = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "address_1": "1 Main St",
        "city": "Town",
        "country_code": country,
        "postal_code": "12345",
    }
    await ok(
        await client.post(
            f"/store/carts/{cart['id']}",
            json={"email": "ada@example.com", "shipping_address": address},
        )
    )
    options = await ok(await client.get("/store/shipping-options", params={"cart_id": cart["id"]}))
    option_id = options["shipping_options"][0]["id"]
    await ok(
        await client.post(
            f"/store/carts/{cart['id']}/shipping-methods", json={"option_id": option_id}
        )
    )
    collection = (
        await ok(await client.post("/store/payment-collections", json={"cart_id": cart["id"]}))
    )["payment_collection"]
    await ok(
        await client.post(
            f"/store/payment-collections/{collection['id']}/payment-sessions",
            json={"provider_id": "pp_system_default"},
        )
    )
    return (await ok(await client.get(f"/store/carts/{cart['id']}")))["cart"]


async def complete(client: httpx.AsyncClient, cart_id: str) -> dict[str, Any]:
    return await ok(await client.post(f"/store/carts/{cart_id}/complete"))
