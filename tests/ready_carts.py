"""Carts ready to complete, written straight into Postgres: tests and benchmarks that load
`complete` should not spend their set-up time in the six storefront calls that precede it."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from surecapture.db.models import (
    Address,
    Cart,
    CartLineItem,
    CartShippingMethod,
    PaymentCollection,
    PaymentSession,
    ProductVariant,
    Region,
    SalesChannel,
    ShippingOption,
    table,
)
from surecapture.ids import new_id


async def insert_ready_carts(
    db: async_sessionmaker[AsyncSession],
    count: int,
    *,
    provider_id: str = "pp_system_default",
    data: dict[str, str] | None = None,
) -> list[str]:
    """`count` USD carts, each with one item, an address, a shipping method and a pending
    payment session (the system provider's unless told); returns their ids."""
    async with db() as session:
        region = await session.scalar(select(Region).where(Region.currency_code == "usd"))
        assert region is not None
        channel_id = await session.scalar(select(SalesChannel.id))
        variant = await session.scalar(select(ProductVariant).order_by(ProductVariant.id))
        assert variant is not None
        option = await session.scalar(
            select(ShippingOption).where(ShippingOption.region_id == region.id)
        )
        assert option is not None and option.amount is not None
        price = next(p.amount for p in variant.prices if p.currency_code == "usd")
        product = variant.product
    total = price + option.amount
    rows: dict[str, list[dict[str, object]]] = {
        "addresses": [],
        "carts": [],
        "items": [],
        "methods": [],
        "collections": [],
        "sessions": [],
    }
    ids = []
    for _ in range(count):
        cart_id, address_id, collection_id = new_id("cart"), new_id("caaddr"), new_id("pay_col")
        ids.append(cart_id)
        rows["addresses"].append(
            {
                "id": address_id,
                "country_code": "us",
                "city": "Town",
                "address_1": "1 Main St",
                "postal_code": "12345",
            }
        )
        rows["carts"].append(
            {
                "id": cart_id,
                "region_id": region.id,
                "currency_code": "usd",
                "email": "bench@example.com",
                "sales_channel_id": channel_id,
                "shipping_address_id": address_id,
            }
        )
        rows["items"].append(
            {
                "id": new_id("cali"),
                "cart_id": cart_id,
                "variant_id": variant.id,
                "product_id": product.id,
                "title": product.title,
                "product_title": product.title,
                "variant_title": variant.title,
                "variant_sku": variant.sku,
                "quantity": 1,
                "unit_price": price,
                "requires_shipping": True,
            }
        )
        rows["methods"].append(
            {
                "id": new_id("casm"),
                "cart_id": cart_id,
                "shipping_option_id": option.id,
                "name": option.name,
                "amount": option.amount,
            }
        )
        rows["collections"].append(
            {"id": collection_id, "cart_id": cart_id, "currency_code": "usd", "amount": total}
        )
        rows["sessions"].append(
            {
                "id": new_id("payses"),
                "payment_collection_id": collection_id,
                "provider_id": provider_id,
                "amount": total,
                "currency_code": "usd",
                "status": "pending",
                "data": data or {},
                "context": {},
            }
        )
    tables = [
        (Address, "addresses"),
        (Cart, "carts"),
        (CartLineItem, "items"),
        (CartShippingMethod, "methods"),
        (PaymentCollection, "collections"),
        (PaymentSession, "sessions"),
    ]
    async with db.begin() as session:
        for model, key in tables:
            for start in range(0, count, 2000):
                await session.execute(insert(table(model)), rows[key][start : start + 2000])
    return ids
