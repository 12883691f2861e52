"""Orders, by id (the id acts as the secret, as in Medusa)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from surecapture.api.deps import ContextDep
from surecapture.api.views import order_view

router = APIRouter(tags=["store: orders"])


@router.get("/orders/{order_id}")
async def get_order(
    order_id: str, context: ContextDep, fields: str | None = None
) -> dict[str, Any]:
    return {"order": order_view(await context.orders.get(order_id))}
