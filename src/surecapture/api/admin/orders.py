"""Admin: orders with filters, e.g. everything still flagged `needs_recovery`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AfterValidator

from surecapture.api.deps import ContextDep
from surecapture.api.views import order_view
from surecapture.services.cancel_order import cancel_order as cancel_order_service
from surecapture.services.order_service import OrderFilters
from surecapture.services.retry_capture import retry_capture as retry_capture_service

router = APIRouter(prefix="/orders", tags=["admin: orders"])

PaymentStatusFilter = Literal["authorized", "captured", "canceled", "capture_failed"]


def _in_utc(value: datetime) -> datetime:
    # Without an offset a time is read as UTC (not the server's zone); with one, it must still
    # be a time in UTC (0001-01-01T00:00+01:00 is not, and the database driver would fail).
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date out of range once converted to UTC") from None


UtcDatetime = Annotated[datetime, AfterValidator(_in_utc)]


@router.get("")
async def list_orders(
    context: ContextDep,
    needs_recovery: bool | None = None,
    payment_status: PaymentStatusFilter | None = None,
    created_after: UtcDatetime | None = None,
    created_before: UtcDatetime | None = None,
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


@router.post("/{order_id}/retry-capture", status_code=202)
async def retry_capture(order_id: str, context: ContextDep) -> dict[str, Any]:
    """A `capture_failed` order's capture, queued again now (202: the worker captures it)."""
    await retry_capture_service(context, order_id)
    return {"order": order_view(await context.orders.get(order_id))}
