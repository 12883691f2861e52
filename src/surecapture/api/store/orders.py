"""Orders, by id (the id acts as the secret, as in Medusa)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header

from surecapture.api.deps import ContextDep
from surecapture.api.views import order_view
from surecapture.services import modification_tokens
from surecapture.services.cancel_order import cancel_order as cancel_order_service

router = APIRouter(tags=["store: orders"])


@router.get("/orders/{order_id}")
async def get_order(
    order_id: str, context: ContextDep, fields: str | None = None
) -> dict[str, Any]:
    return {"order": order_view(await context.orders.get(order_id))}


@router.post("/orders/{order_id}/cancel")
async def cancel_order(
    order_id: str,
    context: ContextDep,
    x_modification_token: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Cancel within the grace window with the token `complete` returned."""
    order = await context.orders.get(order_id)
    modification_tokens.verify(await context.modification_key(), order.id, x_modification_token)
    await cancel_order_service(context, order.id)
    return {"order": order_view(await context.orders.get(order_id))}
