"""Shared set-up for benchmarks: a throwaway database, migrated and seeded, and bulk orders."""

from __future__ import annotations

import asyncio
import os
import platform
import secrets
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from surecapture.db import migrate
from surecapture.db.models import (
    Cart,
    Order,
    PaymentCollection,
    Region,
    SalesChannel,
    table,
)
from surecapture.ids import new_id
from surecapture.services.seed import seed_database

POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
BENCH_KEY = "pk_" + "be" * 32


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = (
        subprocess.run(["free", "-g"], capture_output=True, text=True)
        .stdout.split("\n")[1]
        .split()[1]
    )
    redis_version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True
    ).stdout.split()[2]
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory} GiB RAM, Python {platform.python_version()}, "
        f"Redis {redis_version.removeprefix('v=')}, {platform.system()} {platform.release()}"
    )


@asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    name = f"surecapture_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(f"{POSTGRES}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{POSTGRES.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        await seed_database(url, publishable_key=BENCH_KEY)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@dataclass(frozen=True)
class BulkOrder:
    id: str
    reference: str
    total: int
    due_at: datetime


async def insert_orders(
    db: async_sessionmaker[AsyncSession],
    references: list[str],
    *,
    total: int,
    provider_id: str,
    due_in: timedelta = timedelta(0),
    created_ago: timedelta = timedelta(0),
    metadata: dict[str, object] | None = None,
    batch: int = 5000,
) -> list[BulkOrder]:
    """Authorized orders written straight into Postgres (each with its own cart and collection),
    as if checkouts had happened: benchmarks measure what comes after checkout."""
    now = datetime.now(UTC)
    async with db() as session:
        region_id = await session.scalar(select(Region.id).where(Region.currency_code == "usd"))
        channel_id = await session.scalar(select(SalesChannel.id))
    orders: list[BulkOrder] = []
    for start in range(0, len(references), batch):
        carts, collections, rows = [], [], []
        for reference in references[start : start + batch]:
            cart_id, collection_id, order_id = new_id("cart"), new_id("pay_col"), new_id("order")
            due = now + due_in
            carts.append(
                {
                    "id": cart_id,
                    "region_id": region_id,
                    "currency_code": "usd",
                    "sales_channel_id": channel_id,
                    "completed_at": now,
                }
            )
            collections.append(
                {
                    "id": collection_id,
                    "cart_id": cart_id,
                    "currency_code": "usd",
                    "amount": total,
                    "status": "authorized",
                }
            )
            rows.append(
                {
                    "id": order_id,
                    "cart_id": cart_id,
                    "region_id": region_id,
                    "sales_channel_id": channel_id,
                    "currency_code": "usd",
                    "status": "pending",
                    "item_subtotal": total,
                    "shipping_subtotal": 0,
                    "total": total,
                    "metadata": metadata or {},
                    "payment_collection_id": collection_id,
                    "payment_status": "authorized",
                    "payment_provider_id": provider_id,
                    "payment_reference": reference,
                    "capture_due_at": due,
                    "created_at": now - created_ago,
                    "updated_at": now - created_ago,
                }
            )
            orders.append(BulkOrder(order_id, reference, total, due))
        async with db.begin() as session:
            await session.execute(insert(table(Cart)), carts)
            await session.execute(insert(table(PaymentCollection)), collections)
            await session.execute(insert(table(Order)), rows)
    return orders
