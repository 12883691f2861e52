"""Payment collections and sessions of a cart."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from surecapture.db.models import PaymentCollection, PaymentSession
from surecapture.errors import NotFound
from surecapture.ids import new_id
from surecapture.payments.registry import ProviderRegistry
from surecapture.services.carts import cart_total, ensure_open, load_cart


async def create_collection(db: async_sessionmaker[AsyncSession], cart_id: str) -> str:
    """Returns the cart's collection, creating it on first call."""
    async with db.begin() as session:
        cart = await load_cart(session, cart_id, for_update=True)
        if cart.payment_collection is not None:
            return cart.payment_collection.id
        ensure_open(cart)
        collection = PaymentCollection(
            id=new_id("pay_col"),
            cart_id=cart.id,
            currency_code=cart.currency_code,
            amount=cart_total(cart),
            payment_sessions=[],
        )
        session.add(collection)
        return collection.id


async def load_collection(session: AsyncSession, collection_id: str) -> PaymentCollection:
    collection = await session.scalar(
        select(PaymentCollection).where(PaymentCollection.id == collection_id)
    )
    if collection is None:
        raise NotFound(f"Payment collection with id: {collection_id} was not found")
    return collection


async def create_session(
    db: async_sessionmaker[AsyncSession],
    providers: ProviderRegistry,
    collection_id: str,
    *,
    provider_id: str,
    data: dict[str, Any] | None,
    context: dict[str, Any] | None,
) -> None:
    """Replaces the collection's sessions with one new pending session."""
    providers.get(provider_id)
    async with db.begin() as session:
        cart_id = await session.scalar(
            select(PaymentCollection.cart_id).where(PaymentCollection.id == collection_id)
        )
        if cart_id is None:
            raise NotFound(f"Payment collection with id: {collection_id} was not found")
        # The sessions are read with the cart, once it is locked: read before, a concurrent
        # call's new session would be missed, survive, and two sessions would be left.
        cart = await load_cart(session, cart_id, for_update=True)
        collection = cart.payment_collection
        assert collection is not None and collection.id == collection_id
        ensure_open(cart)
        collection.amount = cart_total(cart)
        collection.payment_sessions.clear()
        collection.payment_sessions.append(
            PaymentSession(
                id=new_id("payses"),
                provider_id=provider_id,
                amount=collection.amount,
                currency_code=collection.currency_code,
                status="pending",
                data=data or {},
                context=context or {},
            )
        )
