"""Demo catalog and the store's publishable key. Running it again changes nothing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from surecapture.db.engine import build_engine, build_sessionmaker
from surecapture.db.models import (
    Country,
    Product,
    ProductOption,
    ProductOptionValue,
    ProductVariant,
    PublishableKey,
    Region,
    SalesChannel,
    ShippingOption,
    Store,
    VariantPrice,
)
from surecapture.ids import new_id

# (name, currency, countries as (iso_2, iso_3, name), flat shipping in minor units)
REGIONS = [
    ("United States", "usd", [("us", "usa", "United States")], 800),
    (
        "Europe",
        "eur",
        [("de", "deu", "Germany"), ("fr", "fra", "France"), ("nl", "nld", "Netherlands")],
        700,
    ),
    ("Japan", "jpy", [("jp", "jpn", "Japan")], 900),
    ("Kuwait", "kwd", [("kw", "kwt", "Kuwait")], 1500),
]

# (title, handle, variants as (title, sku, {currency: minor units}))
PRODUCTS = [
    (
        "Medusa T-Shirt",
        "t-shirt",
        [
            ("S", "SHIRT-S", {"usd": 1999, "eur": 1800, "jpy": 2900, "kwd": 6150}),
            ("M", "SHIRT-M", {"usd": 1999, "eur": 1800, "jpy": 2900, "kwd": 6150}),
        ],
    ),
    (
        "Medusa Sweatpants",
        "sweatpants",
        [
            ("One size", "PANTS-OS", {"usd": 4250, "eur": 3900, "jpy": 6300, "kwd": 13075}),
        ],
    ),
]


@dataclass(frozen=True)
class SeedResult:
    publishable_key: str
    created: bool


async def seed(db: async_sessionmaker[AsyncSession], *, publishable_key: str | None) -> SeedResult:
    async with db.begin() as session:
        store = await session.scalar(select(Store).limit(1))
        created = store is None
        if store is None:
            store = await _catalog(session)
        token = await _ensure_key(session, publishable_key, store.default_sales_channel_id)
    return SeedResult(token, created)


async def seed_database(url: str, *, publishable_key: str | None) -> SeedResult:
    """`seed` on the database at `url`, through an engine of its own for the while."""
    engine = build_engine(url, pool_size=1)
    try:
        return await seed(build_sessionmaker(engine), publishable_key=publishable_key)
    finally:
        await engine.dispose()


async def _catalog(session: AsyncSession) -> Store:
    channel = SalesChannel(id=new_id("sc"), name="Default Sales Channel")
    session.add(channel)
    regions = []
    for name, currency, countries, shipping in REGIONS:
        region = Region(id=new_id("reg"), name=name, currency_code=currency, automatic_taxes=True)
        session.add(region)
        await session.flush()
        for iso_2, iso_3, country in countries:
            session.add(
                Country(
                    iso_2=iso_2,
                    iso_3=iso_3,
                    name=country.upper(),
                    display_name=country,
                    region_id=region.id,
                )
            )
        session.add(
            ShippingOption(
                id=new_id("so"), name="Standard Shipping", region_id=region.id, amount=shipping
            )
        )
        regions.append(region)
    for title, handle, variants in PRODUCTS:
        product = Product(
            id=new_id("prod"),
            title=title,
            handle=handle,
            status="published",
            description=f"The {title.lower()}.",
            sales_channels=[channel],
        )
        # One option, Size, whose values are the variants' titles: storefronts pick a variant
        # by its option values.
        size = ProductOption(id=new_id("opt"), product_id=product.id, title="Size")
        values = {
            variant_title: ProductOptionValue(id=new_id("optval"), option=size, value=variant_title)
            for variant_title, _, _ in variants
        }
        session.add_all([product, size, *values.values()])
        await session.flush()
        for variant_title, sku, prices in variants:
            variant = ProductVariant(
                id=new_id("variant"),
                product_id=product.id,
                title=variant_title,
                sku=sku,
                manage_inventory=True,
                inventory_quantity=1_000_000,
                options=[values[variant_title]],
            )
            session.add(variant)
            await session.flush()
            for currency, amount in prices.items():
                session.add(
                    VariantPrice(
                        id=new_id("price"),
                        variant_id=variant.id,
                        currency_code=currency,
                        amount=amount,
                    )
                )
    store = Store(
        id=new_id("store"),
        name="surecapture demo store",
        default_region_id=regions[0].id,
        default_sales_channel_id=channel.id,
    )
    session.add(store)
    await session.flush()
    return store


async def _ensure_key(session: AsyncSession, token: str | None, channel_id: str | None) -> str:
    if token is None:
        existing = await session.scalar(
            select(PublishableKey.token)
            .where(PublishableKey.revoked_at.is_(None))
            .order_by(PublishableKey.created_at)
            .limit(1)
        )
        if existing:
            return existing
        token = "pk_" + secrets.token_hex(32)
    elif await session.scalar(select(PublishableKey).where(PublishableKey.token == token)):
        return token
    channels = [c for c in [await session.get(SalesChannel, channel_id)] if c] if channel_id else []
    session.add(
        PublishableKey(id=new_id("apk"), token=token, title="Storefront", sales_channels=channels)
    )
    return token
