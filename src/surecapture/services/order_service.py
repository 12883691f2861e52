"""Orders: read, list with filters, and `update_orders`, the one way metadata changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import (
    Boolean,
    ColumnElement,
    String,
    and_,
    bindparam,
    cast,
    column,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import ReturningUpdate
from sqlalchemy.types import Text

from surecapture.db.models import Order, table
from surecapture.errors import NotFound

# How many times the fallback job retried a `capture_failed` order; an operator's retry resets it.
CAPTURE_RETRIES_KEY = "fallback_capture_retries"


class OrderUpdate(TypedDict):
    """`metadata` is merged into the order's metadata; a key whose value is None is removed."""

    id: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class OrderFilters:
    needs_recovery: bool | None = None
    payment_status: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class OrderGauges:
    flagged: int  # orders flagged needs_recovery
    oldest_flagged_at: datetime | None
    oldest_due_authorized: datetime | None  # the earliest due time of an uncaptured order
    capture_failed: int


def needs_recovery_clause() -> ColumnElement[bool]:
    """Matches the partial index `ix_orders_needs_recovery` exactly, so Postgres can use it."""
    clause: ColumnElement[bool] = Order.metadata_["needs_recovery"].astext == "true"
    return clause


def not_flagged_clause() -> ColumnElement[bool]:
    clause: ColumnElement[bool] = (
        func.coalesce(Order.metadata_["needs_recovery"].astext, "false") != "true"
    )
    return clause


class OrderService:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def get(self, order_id: str) -> Order:
        async with self._db() as session:
            order = await session.get(Order, order_id)
        if order is None:
            raise NotFound(f"Order id not found: {order_id}")
        return order

    async def list(
        self, filters: OrderFilters, *, limit: int, offset: int
    ) -> tuple[Sequence[Order], int]:
        conditions: list[ColumnElement[bool]] = []
        if filters.needs_recovery is True:
            conditions.append(needs_recovery_clause())
        elif filters.needs_recovery is False:
            conditions.append(not_flagged_clause())
        if filters.payment_status:
            conditions.append(Order.payment_status == filters.payment_status)
        if filters.created_after:
            conditions.append(Order.created_at >= filters.created_after)
        if filters.created_before:
            conditions.append(Order.created_at < filters.created_before)
        where = and_(literal(True, Boolean), *conditions)
        async with self._db() as session:
            count = await session.scalar(select(func.count(Order.id)).where(where)) or 0
            orders = (
                await session.scalars(
                    select(Order)
                    .where(where)
                    .order_by(Order.created_at.desc(), Order.id.desc())
                    .limit(limit)
                    .offset(offset)
                )
            ).all()
        return orders, count

    async def count_flagged(self) -> int:
        """Orders flagged needs_recovery: an index-only count over `ix_orders_needs_recovery`."""
        async with self._db() as session:
            return await session.scalar(select(func.count()).where(needs_recovery_clause())) or 0

    async def gauges(self) -> OrderGauges:
        """What the order gauges show, in one statement: each figure is a subquery of its own,
        so each reads its own index (the flag's, or payment status and due time) and none
        scans the table."""
        statement = select(
            select(func.count()).where(needs_recovery_clause()).scalar_subquery(),
            select(func.min(Order.created_at)).where(needs_recovery_clause()).scalar_subquery(),
            select(func.min(Order.capture_due_at))
            .where(Order.payment_status == "authorized")
            .scalar_subquery(),
            select(func.count()).where(Order.payment_status == "capture_failed").scalar_subquery(),
        )
        async with self._db() as session:
            row = (await session.execute(statement)).one()
        return OrderGauges(
            flagged=row[0],
            oldest_flagged_at=row[1],
            oldest_due_authorized=row[2],
            capture_failed=row[3],
        )

    async def update_orders(self, updates: Sequence[OrderUpdate]) -> int:
        """Merge each update's metadata into its order. Postgres computes the new value
        (`metadata || patch - removed`) inside the UPDATE, so concurrent writers never lose each
        other's keys; there is no read-modify-write. Returns how many orders were found."""
        if not updates:
            return 0
        payload = [
            {
                "order_id": item["id"],
                "patch": {k: v for k, v in item["metadata"].items() if v is not None},
                "removed": [k for k, v in item["metadata"].items() if v is None],
            }
            for item in updates
        ]
        async with self._db.begin() as session:
            result = await session.execute(_MERGE, {"payload": payload})
            return len(result.all())


def _merge_statement() -> ReturningUpdate[tuple[str]]:
    """One UPDATE for the whole batch, whatever its size: the patches travel as one JSONB
    parameter unpacked by `jsonb_to_recordset`, so the statement compiles (and is prepared)
    once instead of once per batch shape."""
    patches = (
        func.jsonb_to_recordset(bindparam("payload", type_=JSONB))
        .table_valued(
            column("order_id", String), column("patch", JSONB), column("removed", ARRAY(Text))
        )
        .render_derived(name="patches", with_types=True)
    )
    orders = table(Order)
    merged = (
        func.coalesce(orders.c.metadata, cast({}, JSONB))
        .op("||")(patches.c.patch)
        .op("-")(patches.c.removed)
    )
    return (
        update(orders)
        .where(orders.c.id == patches.c.order_id)
        .values(metadata=merged, updated_at=func.now())
        .returning(orders.c.id)
    )


_MERGE = _merge_statement()
