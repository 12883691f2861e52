"""One order through the Store API, as a storefront places it: a smoke test of a running service
(`surecapture place-order`), the README's way to watch an outage end to end, and the tests'
way to a cart that is ready to complete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx


class DemoOrderError(Exception):
    """A step answered something other than 200; the message says which step and what."""


async def _step(
    client: httpx.AsyncClient, name: str, method: str, path: str, **kwargs: Any
) -> dict[str, Any]:
    try:
        response = await client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise DemoOrderError(f"{name}: cannot reach {client.base_url} ({exc!r})") from None
    if response.status_code != 200:
        raise DemoOrderError(f"{name}: {response.status_code} {response.text}")
    body: dict[str, Any] = response.json()
    return body


def _first(items: list[dict[str, Any]], what: str) -> dict[str, Any]:
    if not items:
        raise DemoOrderError(f"{what}: none in the store (run `surecapture seed`)")
    return items[0]


async def ready_cart(
    client: httpx.AsyncClient,
    *,
    currency: str | None = None,
    quantity: int = 1,
    variants: Sequence[str] = (),
) -> dict[str, Any]:
    """Cart (in the region of `currency`, or the first) → items (`variants` in that order, else
    the first product's first variant) → email and address → shipping method → payment session
    (system provider). Returns the cart, ready to complete."""
    regions = (await _step(client, "regions", "GET", "/store/regions"))["regions"]
    region = next((r for r in regions if currency in (None, r["currency_code"])), None)
    if region is None:
        raise DemoOrderError(f"regions: none in {currency or 'the store'} (run `surecapture seed`)")
    products = await _step(
        client, "products", "GET", "/store/products", params={"region_id": region["id"]}
    )
    first = _first(_first(products["products"], "products")["variants"], "variants")["id"]
    body = {"region_id": region["id"]}
    cart_id = (await _step(client, "cart", "POST", "/store/carts", json=body))["cart"]["id"]
    cart = f"/store/carts/{cart_id}"
    for variant in variants or [first]:
        body = {"variant_id": variant, "quantity": quantity}
        await _step(client, "item", "POST", f"{cart}/line-items", json=body)
    address = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "address_1": "1 Main St",
        "city": "Town",
        "country_code": _first(region["countries"], "countries")["iso_2"],
        "postal_code": "12345",
    }
    body = {"email": "ada@example.com", "shipping_address": address}
    await _step(client, "address", "POST", cart, json=body)
    options = await _step(
        client, "shipping options", "GET", "/store/shipping-options", params={"cart_id": cart_id}
    )
    body = {"option_id": _first(options["shipping_options"], "shipping options")["id"]}
    await _step(client, "shipping method", "POST", f"{cart}/shipping-methods", json=body)
    body = {"cart_id": cart_id}
    collection = await _step(
        client, "payment collection", "POST", "/store/payment-collections", json=body
    )
    sessions = f"/store/payment-collections/{collection['payment_collection']['id']}"
    body = {"provider_id": "pp_system_default"}
    await _step(client, "payment session", "POST", f"{sessions}/payment-sessions", json=body)
    ready: dict[str, Any] = (await _step(client, "cart", "GET", cart))["cart"]
    return ready


async def place_order(base_url: str, publishable_key: str) -> dict[str, Any]:
    """A ready cart, completed. Returns the order."""
    async with httpx.AsyncClient(
        base_url=base_url, headers={"x-publishable-api-key": publishable_key}, timeout=30
    ) as client:
        cart = await ready_cart(client)
        result = await _step(client, "complete", "POST", f"/store/carts/{cart['id']}/complete")
    if result.get("type") != "order":
        raise DemoOrderError(f"complete: {result.get('error', result)}")
    order: dict[str, Any] = result["order"]
    return order
