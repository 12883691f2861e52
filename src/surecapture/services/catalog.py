"""Regions, products with prices, publishable keys and shipping options."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from surecapture.db.models import (
    Cart,
    Product,
    ProductOption,
    ProductOptionValue,
    ProductVariant,
    PublishableKey,
    Region,
    SalesChannel,
    ShippingOption,
    Store,
    product_sales_channels,
)
from surecapture.errors import InvalidData, NotAllowed, NotFound
from surecapture.services.scope import KeyScope


async def key_scope(session: AsyncSession, token: str | None) -> KeyScope:
    if not token:
        raise NotAllowed(
            "Publishable API key required in the request header: x-publishable-api-key. "
            "You can manage your keys in settings in the dashboard."
        )
    key = await session.scalar(
        select(PublishableKey).where(
            PublishableKey.token == token, PublishableKey.revoked_at.is_(None)
        )
    )
    if key is None:
        raise NotAllowed("A valid publishable key is required to proceed with the request")
    return KeyScope(key.id, tuple(sorted(channel.id for channel in key.sales_channels)))


async def store_defaults(session: AsyncSession) -> Store | None:
    return await session.scalar(select(Store).limit(1))


async def list_regions(
    session: AsyncSession, *, limit: int, offset: int
) -> tuple[Sequence[Region], int]:
    count = await session.scalar(select(func.count()).select_from(Region)) or 0
    regions = (
        await session.scalars(select(Region).order_by(Region.id).limit(limit).offset(offset))
    ).all()
    return regions, count


async def get_region(session: AsyncSession, region_id: str) -> Region:
    region = await session.get(Region, region_id)
    if region is None:
        raise NotFound(f"Region with id: {region_id} was not found")
    return region


async def pricing_region(
    session: AsyncSession, *, region_id: str | None, cart_id: str | None
) -> Region | None:
    """The region whose currency prices products: given, else the cart's, else the store's."""
    if region_id:
        return await get_region(session, region_id)
    if cart_id:
        cart = await session.get(Cart, cart_id)
        if cart is None:
            raise NotFound(f"Cart with id '{cart_id}' not found")
        return cart.region
    store = await store_defaults(session)
    if store and store.default_region_id:
        return await session.get(Region, store.default_region_id)
    return None


async def list_products(
    session: AsyncSession,
    scope: KeyScope,
    *,
    limit: int,
    offset: int,
    ids: list[str],
    handle: str | None,
    q: str | None,
) -> tuple[Sequence[Product], int]:
    query = select(Product).where(Product.status == "published")
    if scope.sales_channel_ids:
        query = query.where(
            Product.id.in_(
                select(product_sales_channels.c.product_id).where(
                    product_sales_channels.c.sales_channel_id.in_(scope.sales_channel_ids)
                )
            )
        )
    if ids:
        query = query.where(Product.id.in_(ids))
    if handle:
        query = query.where(Product.handle == handle)
    if q:
        pattern = f"%{q}%"
        query = query.where(or_(Product.title.ilike(pattern), Product.description.ilike(pattern)))
    count = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    shown = query.order_by(Product.id).limit(limit).offset(offset).options(*CATALOG_LOADS)
    products = (await session.scalars(shown)).all()
    return products, count


# What a product's view shows beyond its own row and prices: its options with their values,
# and each variant's option values with their option (Medusa's shapes).
CATALOG_LOADS = (
    selectinload(Product.options).selectinload(ProductOption.values),
    selectinload(Product.variants)
    .selectinload(ProductVariant.options)
    .selectinload(ProductOptionValue.option),
)


def variant_price(variant: ProductVariant, currency_code: str) -> int | None:
    for price in variant.prices:
        if price.currency_code == currency_code:
            return price.amount
    return None


async def get_variant(session: AsyncSession, variant_id: str) -> ProductVariant:
    variant = await session.get(ProductVariant, variant_id)
    if variant is None:
        raise NotFound(f"Variant with id: {variant_id} was not found")
    return variant


async def get_sales_channel(session: AsyncSession, channel_id: str) -> SalesChannel | None:
    return await session.get(SalesChannel, channel_id)


async def shipping_options_for(session: AsyncSession, cart: Cart) -> Sequence[ShippingOption]:
    options = (
        await session.scalars(
            select(ShippingOption)
            .where(ShippingOption.region_id == cart.region_id, ShippingOption.is_return.is_(False))
            .order_by(ShippingOption.id)
        )
    ).all()
    for option in options:
        if option.amount is None:
            raise InvalidData(f"Shipping option with id: {option.id} does not have a price")
    return options
