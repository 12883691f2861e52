"""Admin: orders with filters, e.g. everything still flagged `needs_recovery`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from surecapture.api.deps import ContextDep
from surecapture.api.views import order_view
from surecapture.services.cancel_order import cancel_order as cancel_order_service
from surecapture.services.order_service import OrderFilters

router = APIRouter(prefix="/orders", tags=["admin: orders"])

PaymentStatusFilter = Literal["authorized", "captured", "canceled", "capture_failed"]


@router.get("")
async def list_orders(
    context: ContextDep,
    needs_recovery: bool | None = None,
    payment_status: PaymentStatusFilter | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: Annotated[int, Query(ge=0, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> dict[str, Any]:
    filters = OrderFilters(needs_recovery, payment_status, created_after, created_before)
    orders, count = await context.orders.list(filters, limit=limit, offset=offset)
    return {
        "orders": [order_view(o) for o in orders],
        "count": count,
        "offset": offset,
        "limit": limit,
    }


@router.get("/{order_id}")
async def get_order(order_id: str, context: ContextDep) -> dict[str, Any]:
    return {"order": order_view(await context.orders.get(order_id))}


@router.post("/{order_id}/cancel")
async def cancel_order(order_id: str, context: ContextDep) -> dict[str, Any]:
    await cancel_order_service(context, order_id)
    return {"order": order_view(await context.orders.get(order_id))}
