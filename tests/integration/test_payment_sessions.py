"""Payment sessions of a cart's collection: one at a time, whatever the storefront sends."""

import asyncio
from functools import partial

import httpx
from sqlalchemy import func, select

from surecapture.context import Context
from surecapture.db.models import Cart, PaymentSession
from tests import storefront
from tests.waiting import eventually, transactions_waiting


async def test_two_sessions_initiated_at_once_leave_one(
    client: httpx.AsyncClient, context: Context
) -> None:
    cart = await storefront.ready_cart(client)  # it has one session already
    collection_id = cart["payment_collection"]["id"]
    path = f"/store/payment-collections/{collection_id}/payment-sessions"
    body = {"provider_id": "pp_system_default"}
    # While the cart is held, both calls start, one after the other: the second must see the
    # session the first made, and replace it.
    async with context.db.begin() as blocker:
        await blocker.execute(select(Cart.id).where(Cart.id == cart["id"]).with_for_update())
        calls = [asyncio.create_task(client.post(path, json=body))]
        await eventually(partial(transactions_waiting, context.engine, 1))
        calls.append(asyncio.create_task(client.post(path, json=body)))
        await eventually(partial(transactions_waiting, context.engine, 2))
    answers = await asyncio.gather(*calls)
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    async with context.db() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(PaymentSession)
            .where(PaymentSession.payment_collection_id == collection_id)
        )
    assert count == 1
