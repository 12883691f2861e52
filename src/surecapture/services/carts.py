"""Carts: create, update, line items, shipping methods. Each function owns one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.base import ExecutableOption

from surecapture.db.models import (
    Address,
    Cart,
    CartLineItem,
    CartShippingMethod,
    Customer,
    ProductVariant,
    Region,
)
from surecapture.errors import InsufficientInventory, InvalidData, NotFound, SalesChannelMismatch
from surecapture.ids import new_id
from surecapture.services import catalog
from surecapture.services.scope import KeyScope

MAX_QUANTITY = 2**31 - 1  # a line item's quantity is a Postgres integer

ADDRESS_FIELDS = (
    "first_name",
    "last_name",
    "phone",
    "company",
    "address_1",
    "address_2",
    "city",
    "country_code",
    "province",
    "postal_code",
)


@dataclass(frozen=True)
class ItemInput:
    variant_id: str
    quantity: int
    metadata: dict[str, Any] | None = None


@dataclass
class CartChanges:
    """Fields of a cart create/update; `UNSET` fields are left alone."""

    fields: dict[str, Any] = field(default_factory=dict)


async def load_cart(
    session: AsyncSession,
    cart_id: str,
    *,
    for_update: bool = False,
    options: Sequence[ExecutableOption] = (),
) -> Cart:
    query = select(Cart).where(Cart.id == cart_id).options(*options)
    if for_update:
        query = query.with_for_update()
    cart = await session.scalar(query)
    if cart is None:
        raise NotFound(f"Cart with id '{cart_id}' not found")
    return cart


def ensure_open(cart: Cart) -> None:
    if cart.completed_at is not None:
        raise InvalidData(f"Cart {cart.id} is already completed.")


def cart_total(cart: Cart) -> int:
    items = sum(item.unit_price * item.quantity for item in cart.items)
    shipping = sum(method.amount for method in cart.shipping_methods)
    return items + shipping


async def create_cart(
    db: async_sessionmaker[AsyncSession], scope: KeyScope, data: dict[str, Any]
) -> str:
    async with db.begin() as session:
        region = await _resolve_region(session, data.get("region_id"))
        channel_id = await _resolve_sales_channel(session, scope, data.get("sales_channel_id"))
        currency = (data.get("currency_code") or region.currency_code).lower()
        if currency != region.currency_code:
            # Shipping options are priced in their region's currency only: a cart in another
            # currency would pay a shipping amount meant in one currency in another.
            raise InvalidData(
                f"Currency {currency} is not the currency of region {region.id} "
                f"({region.currency_code})"
            )
        cart = Cart(
            id=new_id("cart"),
            region_id=region.id,
            currency_code=currency,
            sales_channel_id=channel_id,
            metadata_=data.get("metadata"),
            # Every relationship set up front: a new object must never lazy-load (async I/O).
            items=[],
            shipping_methods=[],
            payment_collection=None,
            customer=None,
            shipping_address=None,
            billing_address=None,
        )
        cart.region = region
        session.add(cart)
        await _apply_fields(session, cart, data)
        if cart.shipping_address is None and len(region.countries) == 1:
            cart.shipping_address = Address(
                id=new_id("caaddr"), country_code=region.countries[0].iso_2
            )
        for item in data.get("items") or []:
            await _add_item(session, cart, ItemInput(**item))
        await session.flush()
        await _refresh(session, cart)
        return cart.id


async def update_cart(
    db: async_sessionmaker[AsyncSession], scope: KeyScope, cart_id: str, data: dict[str, Any]
) -> None:
    async with db.begin() as session:
        cart = await load_cart(session, cart_id, for_update=True)
        ensure_open(cart)
        if data.get("region_id") and data["region_id"] != cart.region_id:
            region = await catalog.get_region(session, data["region_id"])
            await _change_region(session, cart, region)
        if "sales_channel_id" in data and data["sales_channel_id"] is not None:
            # The publishable key's scope holds for a change as it does at creation.
            cart.sales_channel_id = await _resolve_sales_channel(
                session, scope, data["sales_channel_id"]
            )
        if "metadata" in data:
            cart.metadata_ = data["metadata"]
        await _apply_fields(session, cart, data)
        await _refresh(session, cart)


async def add_line_item(
    db: async_sessionmaker[AsyncSession], cart_id: str, item: ItemInput
) -> None:
    async with db.begin() as session:
        cart = await load_cart(session, cart_id, for_update=True)
        ensure_open(cart)
        await _add_item(session, cart, item)
        await _refresh(session, cart)


async def update_line_item(
    db: async_sessionmaker[AsyncSession],
    cart_id: str,
    line_id: str,
    *,
    quantity: int,
    metadata: dict[str, Any] | None,
) -> None:
    async with db.begin() as session:
        cart = await load_cart(session, cart_id, for_update=True)
        ensure_open(cart)
        line = _find_line(cart, line_id)
        if quantity == 0:
            # Newer Medusa releases treat quantity 0 as removal; so do we.
            cart.items.remove(line)
        else:
            _check_stock(line.variant, quantity)
            line.quantity = quantity
            if metadata is not None:
                line.metadata_ = metadata
        await _refresh(session, cart)


async def delete_line_item(
    db: async_sessionmaker[AsyncSession], cart_id: str, line_id: str
) -> None:
    async with db.begin() as session:
        cart = await load_cart(session, cart_id, for_update=True)
        ensure_open(cart)
        cart.items.remove(_find_line(cart, line_id))
        await _refresh(session, cart)


async def add_shipping_method(
    db: async_sessionmaker[AsyncSession], cart_id: str, option_id: str, data: dict[str, Any] | None
) -> None:
    async with db.begin() as session:
        cart = await load_cart(session, cart_id, for_update=True)
        ensure_open(cart)
        options = {
            option.id: option for option in await catalog.shipping_options_for(session, cart)
        }
        option = options.get(option_id)
        if option is None or option.amount is None:
            raise InvalidData("Shipping Options are invalid for cart.")
        # v2.0 semantics: the new method replaces all existing ones.
        cart.shipping_methods.clear()
        cart.shipping_methods.append(
            CartShippingMethod(
                id=new_id("casm"),
                shipping_option_id=option.id,
                name=option.name,
                amount=option.amount,
                data=data,
            )
        )
        await _refresh(session, cart)


def _find_line(cart: Cart, line_id: str) -> CartLineItem:
    for line in cart.items:
        if line.id == line_id:
            return line
    raise NotFound(f"Line item with id: {line_id} was not found")


async def _resolve_region(session: AsyncSession, region_id: str | None) -> Region:
    if region_id:
        return await catalog.get_region(session, region_id)
    region = await catalog.pricing_region(session, region_id=None, cart_id=None)
    if region is None:
        region = await session.scalar(select(Region).order_by(Region.id).limit(1))
    if region is None:
        raise NotFound("No regions found")
    return region


async def _resolve_sales_channel(
    session: AsyncSession, scope: KeyScope, channel_id: str | None
) -> str | None:
    if channel_id:
        if scope.sales_channel_ids and channel_id not in scope.sales_channel_ids:
            raise SalesChannelMismatch(
                [
                    f"Sales channel ID in payload {channel_id} is not associated with the Publishable API Key in the header."
                ]
            )
        if await catalog.get_sales_channel(session, channel_id) is None:
            raise NotFound(f"Sales channel with id: {channel_id} was not found")
        return channel_id
    if len(scope.sales_channel_ids) == 1:
        return scope.sales_channel_ids[0]
    if len(scope.sales_channel_ids) > 1:
        raise SalesChannelMismatch(
            [
                "Cannot assign sales channel to cart. The Publishable API Key in the header of the request has multiple associated sales channels. Please provide a sales channel ID in the request body."
            ]
        )
    store = await catalog.store_defaults(session)
    return store.default_sales_channel_id if store else None


async def _apply_fields(session: AsyncSession, cart: Cart, data: dict[str, Any]) -> None:
    if "email" in data:
        cart.email = data["email"]
        cart.customer = await _guest_customer(session, data["email"]) if data["email"] else None
    for kind in ("shipping_address", "billing_address"):
        if kind in data:
            setattr(cart, kind, await _address(session, data[kind]))


async def _guest_customer(session: AsyncSession, email: str) -> Customer:
    # Insert-or-nothing, then read: two carts given the same new email at once share one
    # customer instead of one failing on the unique email.
    await session.execute(
        insert(Customer)
        .values(id=new_id("cus"), email=email, has_account=False)
        .on_conflict_do_nothing(index_elements=[Customer.email])
    )
    customer = await session.scalar(select(Customer).where(Customer.email == email))
    assert customer is not None
    return customer


async def _address(session: AsyncSession, value: str | dict[str, Any] | None) -> Address | None:
    if value is None:
        return None
    if isinstance(value, str):
        existing = await session.get(Address, value)
        if existing is None:
            raise NotFound(f"Address with id: {value} was not found")
        return Address(id=new_id("caaddr"), **{f: getattr(existing, f) for f in ADDRESS_FIELDS})
    fields = {name: value.get(name) for name in ADDRESS_FIELDS}
    if fields["country_code"]:
        fields["country_code"] = fields["country_code"].lower()
    return Address(id=new_id("caaddr"), metadata_=value.get("metadata"), **fields)


async def _add_item(session: AsyncSession, cart: Cart, item: ItemInput) -> None:
    if item.quantity < 1:
        raise InvalidData(
            "Invalid request: Value for field 'quantity' too small, expected at least: '1'"
        )
    variant = await catalog.get_variant(session, item.variant_id)
    _ensure_on_sale(cart, variant)
    price = catalog.variant_price(variant, cart.currency_code)
    if price is None:
        raise InvalidData(f"Variants with IDs {variant.id} do not have a price")
    for line in cart.items:
        if line.variant_id == variant.id and (line.metadata_ or None) == (item.metadata or None):
            if line.quantity + item.quantity > MAX_QUANTITY:
                raise InvalidData(
                    f"Invalid request: the line item's quantity would exceed {MAX_QUANTITY}"
                )
            _check_stock(variant, line.quantity + item.quantity)
            line.quantity += item.quantity
            return
    _check_stock(variant, item.quantity)
    product = variant.product
    line = CartLineItem(
        id=new_id("cali"),
        variant_id=variant.id,
        product_id=product.id,
        title=product.title,
        product_title=product.title,
        variant_title=variant.title,
        variant_sku=variant.sku,
        thumbnail=product.thumbnail,
        quantity=item.quantity,
        unit_price=price,
        requires_shipping=variant.requires_shipping,
        metadata_=item.metadata,
    )
    line.variant = variant
    cart.items.append(line)


def _ensure_on_sale(cart: Cart, variant: ProductVariant) -> None:
    """Only what the storefront may list can be bought: a variant of a product that is not
    published does not exist for it, and one outside the cart's sales channel is refused."""
    product = variant.product
    if product.status != "published":
        raise NotFound(f"Variant with id: {variant.id} was not found")
    channels = {channel.id for channel in product.sales_channels}
    if cart.sales_channel_id is not None and cart.sales_channel_id not in channels:
        raise InvalidData(
            f"Sales channel {cart.sales_channel_id} is not associated with variants: {variant.id}"
        )


def _check_stock(variant: ProductVariant, quantity: int) -> None:
    if (
        variant.manage_inventory
        and not variant.allow_backorder
        and variant.inventory_quantity < quantity
    ):
        raise InsufficientInventory()


async def _change_region(session: AsyncSession, cart: Cart, region: Region) -> None:
    cart.region_id = region.id
    cart.region = region
    cart.currency_code = region.currency_code
    for line in cart.items:
        price = catalog.variant_price(line.variant, region.currency_code)
        if price is None:
            raise InvalidData(f"Variants with IDs {line.variant_id} do not have a price")
        line.unit_price = price
    # Shipping options are per region: the old method no longer applies.
    cart.shipping_methods.clear()


async def _refresh(session: AsyncSession, cart: Cart) -> None:
    """After any change: when the total moved, the collection follows and its sessions go, so the
    storefront must initiate payment again (Medusa's rule)."""
    collection = cart.payment_collection
    total = cart_total(cart)
    if collection is not None and collection.amount != total:
        collection.amount = total
        collection.payment_sessions.clear()
    await session.flush()
