"""One order through the Store API, as a storefront places it: a smoke test of a running service
(`surecapture place-order`), and the README's way to watch an outage end to end."""

from __future__ import annotations

from typing import Any

import httpx


class DemoOrderError(Exception):
    """A step answered something other than 200; the message says which step and what."""


async def place_order(base_url: str, publishable_key: str) -> dict[str, Any]:
    """Cart → item → email and address → shipping → payment session (system provider) →
    complete. Returns the order."""
    async with httpx.AsyncClient(
        base_url=base_url, headers={"x-publishable-api-key": publishable_key}, timeout=30
    ) as client:

        async def step(name: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
            try:
                response = await client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                raise DemoOrderError(f"{name}: cannot reach {base_url} ({exc!r})") from None
            if response.status_code != 200:
                raise DemoOrderError(f"{name}: {response.status_code} {response.text}")
            body: dict[str, Any] = response.json()
            return body

        regions = (await step("regions", "GET", "/store/regions"))["regions"]
        if not regions:
            raise DemoOrderError("regions: the store has none (run `surecapture seed`)")
        region = regions[0]
        products = await step(
            "products", "GET", "/store/products", params={"region_id": region["id"]}
        )
        variant = products["products"][0]["variants"][0]["id"]
        cart = (await step("cart", "POST", "/store/carts", json={"region_id": region["id"]}))[
            "cart"
        ]
        carts = f"/store/carts/{cart['id']}"
        await step(
            "item", "POST", f"{carts}/line-items", json={"variant_id": variant, "quantity": 1}
        )
        address = {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "address_1": "1 Main St",
            "city": "Town",
            "country_code": region["countries"][0]["iso_2"],
            "postal_code": "12345",
        }
        await step(
            "address", "POST", carts, json={"email": "ada@example.com", "shipping_address": address}
        )
        options = await step(
            "shipping options", "GET", "/store/shipping-options", params={"cart_id": cart["id"]}
        )
        option = options["shipping_options"][0]["id"]
        await step(
            "shipping method", "POST", f"{carts}/shipping-methods", json={"option_id": option}
        )
        collection = (
            await step(
                "payment collection",
                "POST",
                "/store/payment-collections",
                json={"cart_id": cart["id"]},
            )
        )["payment_collection"]
        await step(
            "payment session",
            "POST",
            f"/store/payment-collections/{collection['id']}/payment-sessions",
            json={"provider_id": "pp_system_default"},
        )
        result = await step("complete", "POST", f"{carts}/complete")
        if result.get("type") != "order":
            raise DemoOrderError(f"complete: {result.get('error', result)}")
        order: dict[str, Any] = result["order"]
        return order
