"""Store API steps a storefront takes, as small helpers (tests read like a checkout)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from surecapture import demo_order


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
    added = await ok(await client.post(f"/store/carts/{cart['id']}/line-items", json=body))
    cart_after: dict[str, Any] = added["cart"]
    return cart_after


async def ready_cart(
    client: httpx.AsyncClient,
    currency: str = "usd",
    quantity: int = 1,
    variants: Sequence[str] = (),
) -> dict[str, Any]:
    """A cart with an item (or `variants`, in that order), an address, a shipping method and a
    payment session."""
    return await demo_order.ready_cart(
        client, currency=currency, quantity=quantity, variants=variants
    )


async def complete(client: httpx.AsyncClient, cart_id: str) -> dict[str, Any]:
    return await ok(await client.post(f"/store/carts/{cart_id}/complete"))
