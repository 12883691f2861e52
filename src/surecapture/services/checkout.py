"""Completing a cart: one order per cart, authorized, with its capture due time.

The cart row is locked for the whole transaction, so concurrent `complete` calls run one after
another; `orders.cart_id` is unique, so even a path that skipped the lock could not make a
second order. `order.placed` is published only after the commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import raiseload, selectinload

from surecapture import metrics
from surecapture.db.models import (
    PAYMENT_ONCE,
    Address,
    Cart,
    CartLineItem,
    Order,
    OrderLineItem,
    OrderShippingMethod,
    Payment,
    PaymentSession,
    ProductVariant,
)
from surecapture.errors import InsufficientInventory, InvalidData, PaymentError
from surecapture.events import ORDER_PLACED, EventBus
from surecapture.ids import new_id
from surecapture.payments.registry import ProviderRegistry
from surecapture.services.carts import ADDRESS_FIELDS, cart_total, load_cart

log = logging.getLogger(__name__)

VALID_SESSION_STATUSES = {"pending", "requires_more", "authorized", "captured"}


@dataclass(frozen=True)
class Completed:
    order_id: str
    # The order just placed, whole (its items, addresses, payments and collection were all
    # written or read in the transaction): the answer needs no second read. None when the cart
    # had its order already.
    order: Order | None = None

    @property
    def created(self) -> bool:
        return self.order is not None


@dataclass(frozen=True)
class PaymentFailed:
    cart_id: str
    message: str
    type: str = "payment_authorization_error"


async def complete_cart(
    db: async_sessionmaker[AsyncSession],
    providers: ProviderRegistry,
    bus: EventBus,
    cart_id: str,
    *,
    capture_delay: timedelta,
) -> Completed | PaymentFailed:
    try:
        result = await _complete(db, providers, cart_id, capture_delay)
    except IntegrityError:
        # Another transaction made this cart's order between our lock and insert (only possible
        # if a writer bypassed the lock); the database kept it to one order, so return that one.
        async with db() as session:
            order_id = await session.scalar(select(Order.id).where(Order.cart_id == cart_id))
        if order_id is None:
            raise
        return Completed(order_id)
    placed = result.order if isinstance(result, Completed) else None
    if placed is not None:
        metrics.ORDERS_PLACED.inc()
        await bus.publish(
            ORDER_PLACED,
            {
                "id": placed.id,
                "payment_status": placed.payment_status,
                "payment_reference": placed.payment_reference,
                "capture_due_at": placed.capture_due_at,
            },
        )
    return result


async def _complete(
    db: async_sessionmaker[AsyncSession],
    providers: ProviderRegistry,
    cart_id: str,
    capture_delay: timedelta,
) -> Completed | PaymentFailed:
    session_id: str | None = None
    try:
        async with db.begin() as session:
            cart = await _locked_cart(session, cart_id)
            existing = await session.scalar(select(Order.id).where(Order.cart_id == cart.id))
            if existing is not None:
                return Completed(existing)
            payment_session = _validate(cart)
            session_id = payment_session.id
            await _reserve_inventory(session, cart)
            total = cart_total(cart)
            authorization = await providers.get(payment_session.provider_id).authorize(
                session,
                amount=total,
                currency_code=cart.currency_code,
                idempotency_key=f"authorize-{payment_session.id}",
                data=payment_session.data,
            )
            order = _build_order(
                cart, payment_session, authorization.reference, total, capture_delay
            )
            session.add(order)
            payment_session.status = "authorized"
            payment_session.authorized_at = order.created_at
            payment_session.data = {**payment_session.data, **authorization.data}
            order.payment_collection.status = "authorized"
            cart.completed_at = order.created_at
            try:
                await session.flush()
            except IntegrityError as exc:
                if _constraint(exc) != PAYMENT_ONCE:
                    raise
                raise PaymentError(
                    f"Payment authorization failed: payment {authorization.reference} already "
                    "pays for another order"
                ) from exc
    except PaymentError as exc:
        # The declined attempt rolled back (inventory included); the cart stays open and its
        # session shows the error, as Medusa answers `{type: "cart", error}`.
        async with db.begin() as session:
            failed = await session.get(PaymentSession, session_id)
            if failed is not None:
                failed.status = "error"
        return PaymentFailed(cart_id, exc.message)
    log.info(
        "order %s placed for cart %s, capture due %s",
        order.id,
        cart_id,
        order.capture_due_at.isoformat(),
    )
    return Completed(order.id, order=order)


def _constraint(exc: IntegrityError) -> str | None:
    # asyncpg's error (the DBAPI error's cause) names the constraint that was violated.
    cause = exc.orig.__cause__ if exc.orig is not None else None
    name: str | None = getattr(cause, "constraint_name", None)
    return name


async def _locked_cart(session: AsyncSession, cart_id: str) -> Cart:
    """The cart row locked, with what an order is made of. The catalog side (region, prices,
    product) is not loaded: `complete` does not read it, and raiseload makes sure of that."""
    return await load_cart(
        session,
        cart_id,
        for_update=True,
        options=(
            raiseload(Cart.region),
            selectinload(Cart.items)
            .selectinload(CartLineItem.variant)
            .options(raiseload(ProductVariant.prices), raiseload(ProductVariant.product)),
        ),
    )


def _validate(cart: Cart) -> PaymentSession:
    if not cart.items:
        raise InvalidData("Cart has no items and cannot be completed")
    collection = cart.payment_collection
    if collection is None:
        raise InvalidData("Payment collection has not been initiated for cart")
    sessions = [s for s in collection.payment_sessions if s.status in VALID_SESSION_STATUSES]
    if not sessions:
        raise InvalidData("Payment sessions are required to complete cart")
    if any(item.requires_shipping for item in cart.items) and not cart.shipping_methods:
        raise InvalidData(
            "No shipping method selected but the cart contains items that require shipping."
        )
    return sessions[0]


async def _reserve_inventory(session: AsyncSession, cart: Cart) -> None:
    """Decrement stock in the database itself, so two checkouts can never both take the last one.
    Variants are locked in id order: two carts holding the same variants in another order would
    otherwise deadlock."""
    for item in sorted(cart.items, key=lambda line: line.variant_id):
        variant = item.variant
        if not variant.manage_inventory:
            continue
        stock = ProductVariant.inventory_quantity
        statement = (
            update(ProductVariant)
            .where(ProductVariant.id == variant.id)
            .values(inventory_quantity=func.greatest(stock - item.quantity, 0))
            .returning(ProductVariant.id)
            .execution_options(synchronize_session=False)
        )
        if not variant.allow_backorder:
            statement = statement.where(stock >= item.quantity)
        if await session.scalar(statement) is None:
            raise InsufficientInventory()


def _copy_address(address: Address | None) -> Address | None:
    if address is None:
        return None
    return Address(
        id=new_id("ordaddr"),
        metadata_=address.metadata_,
        **{name: getattr(address, name) for name in ADDRESS_FIELDS},
    )


def _build_order(
    cart: Cart,
    payment_session: PaymentSession,
    reference: str,
    total: int,
    capture_delay: timedelta,
) -> Order:
    now = datetime.now(UTC)
    order_id = new_id("order")
    assert cart.payment_collection is not None
    return Order(
        id=order_id,
        cart_id=cart.id,
        region_id=cart.region_id,
        sales_channel_id=cart.sales_channel_id,
        customer_id=cart.customer_id,
        email=cart.email,
        currency_code=cart.currency_code,
        status="pending",
        shipping_address=_copy_address(cart.shipping_address),
        billing_address=_copy_address(cart.billing_address),
        item_subtotal=sum(item.unit_price * item.quantity for item in cart.items),
        shipping_subtotal=sum(method.amount for method in cart.shipping_methods),
        total=total,
        metadata_={},
        payment_collection=cart.payment_collection,
        payment_status="authorized",
        payment_provider_id=payment_session.provider_id,
        payment_reference=reference,
        capture_due_at=now + capture_delay,
        created_at=now,
        updated_at=now,
        items=[
            OrderLineItem(
                id=new_id("ordli"),
                variant_id=item.variant_id,
                product_id=item.product_id,
                title=item.title,
                product_title=item.product_title,
                variant_title=item.variant_title,
                variant_sku=item.variant_sku,
                thumbnail=item.thumbnail,
                quantity=item.quantity,
                unit_price=item.unit_price,
                requires_shipping=item.requires_shipping,
                metadata_=item.metadata_,
            )
            for item in cart.items
        ],
        shipping_methods=[
            OrderShippingMethod(
                id=new_id("ordsm"),
                shipping_option_id=method.shipping_option_id,
                name=method.name,
                amount=method.amount,
                data=method.data,
            )
            for method in cart.shipping_methods
        ],
        payments=[
            Payment(
                id=new_id("pay"),
                payment_collection_id=cart.payment_collection.id,
                payment_session_id=payment_session.id,
                provider_id=payment_session.provider_id,
                reference=reference,
                amount=total,
                currency_code=cart.currency_code,
            )
        ],
    )
