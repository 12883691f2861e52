"""The fallback capture job's cost: (1) recovery throughput, (2) the scan when nothing is wrong.

    .venv/bin/python -m bench.fallback_recovery [--flagged 10000] [--orders 1000000]

(1) 10,000 orders flagged `needs_recovery` (written straight into a scratch Postgres database),
Redis empty: one run gives every order its capture job and clears every flag; orders per second.
Target: >= 2,000/s on this 2-core machine.
(2) 1,000,000 captured orders plus 1,000 authorized ones with their jobs in place, none flagged
or stale: one run's duration (target <= 50 ms), and the query plans showing index scans.
Real Redis on 127.0.0.1:6379 under a scratch key prefix, deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import String, and_, cast, func, insert, literal, select, text

from bench.setup import insert_orders, machine, scratch_database
from surecapture.config import load_settings
from surecapture.context import Context, build_context
from surecapture.db.models import Cart, Order, PaymentCollection, Region, SalesChannel, table
from surecapture.jobs.fallback_capture import run_fallback
from surecapture.services.order_service import needs_recovery_clause, not_flagged_clause


async def recovery_throughput(flagged: int) -> None:
    async with scratch_database() as url, bench_context(url) as context:
        flag = {"needs_recovery": True, "recovery_reason": "redis_failure"}
        await insert_orders(
            context.db,
            [f"sysauth_{i}" for i in range(flagged)],
            total=2799,
            provider_id="pp_system_default",
            due_in=timedelta(minutes=30),
            metadata=flag,
        )
        summary = await run_fallback(context)
        left = await context.orders.count_flagged()
        jobs = (await context.queue.queue.getJobCounts())["delayed"]
        print(
            f"recovery: {summary.recovered} flagged orders recovered in {summary.seconds:.2f} s = "
            f"{summary.recovered / summary.seconds:.0f} orders/s (batch "
            f"{context.settings.fallback_batch_size}); flags left {left}, delayed jobs {jobs}"
        )


async def scan_cost(orders: int, authorized: int) -> None:
    async with scratch_database() as url, bench_context(url) as context:
        await bulk_captured_orders(context, orders)
        placed = await insert_orders(
            context.db,
            [f"sysauth_{i}" for i in range(authorized)],
            total=2799,
            provider_id="pp_system_default",
            due_in=timedelta(minutes=30),
            created_ago=timedelta(minutes=10),
        )
        await context.queue.schedule_many((o.id, o.reference, o.due_at) for o in placed)
        async with context.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE orders"))
        await run_fallback(context)  # warm caches and prepared statements
        durations = []
        for _ in range(5):
            summary = await run_fallback(context)
            assert (summary.recovered, summary.stale_rescheduled) == (0, 0), summary
            durations.append(summary.seconds)
        print(
            f"scan: {orders:,} captured + {authorized:,} authorized orders with jobs, none flagged "
            f"or stale: a run takes {min(durations) * 1000:.1f} ms (min of 5; max "
            f"{max(durations) * 1000:.1f} ms)"
        )
        for name, where in (
            ("flagged", needs_recovery_clause()),
            ("stale", and_(Order.payment_status == "authorized", not_flagged_clause())),
        ):
            query = (
                select(Order.id).where(where).order_by(Order.capture_due_at, Order.id).limit(1000)
            )
            compiled = query.compile(
                context.engine.sync_engine, compile_kwargs={"literal_binds": True}
            )
            async with context.engine.connect() as connection:
                plan = (
                    (await connection.execute(text(f"EXPLAIN ANALYZE {compiled}"))).scalars().all()
                )
            print(f"plan ({name}):")
            for line in plan:
                print(f"    {line}")


async def bulk_captured_orders(context: Context, count: int) -> None:
    """`count` captured orders generated inside Postgres (generate_series), with carts and
    collections, as a long-running store would have."""
    async with context.db() as session:
        region_id = await session.scalar(select(Region.id).where(Region.currency_code == "usd"))
        channel_id = await session.scalar(select(SalesChannel.id))
    now = datetime.now(UTC) - timedelta(days=1)
    for start in range(1, count + 1, 100_000):  # chunks stay within the statement timeout
        end = min(start + 99_999, count)
        await _bulk_chunk(context, start, end, now, region_id, channel_id)


async def _bulk_chunk(
    context: Context,
    start: int,
    end: int,
    now: datetime,
    region_id: str | None,
    channel_id: str | None,
) -> None:
    n = cast(func.generate_series(start, end).column_valued("i"), String)
    async with context.db.begin() as session:
        await session.execute(
            insert(table(Cart)).from_select(
                ["id", "region_id", "currency_code", "sales_channel_id", "completed_at"],
                select(
                    literal("cart_b") + n,
                    literal(region_id),
                    literal("usd"),
                    literal(channel_id),
                    literal(now),
                ),
            )
        )
        await session.execute(
            insert(table(PaymentCollection)).from_select(
                ["id", "cart_id", "currency_code", "amount", "status"],
                select(
                    literal("pay_col_b") + n,
                    literal("cart_b") + n,
                    literal("usd"),
                    literal(2799),
                    literal("authorized"),
                ),
            )
        )
        await session.execute(
            insert(table(Order)).from_select(
                [
                    "id",
                    "cart_id",
                    "region_id",
                    "sales_channel_id",
                    "currency_code",
                    "status",
                    "item_subtotal",
                    "shipping_subtotal",
                    "total",
                    "payment_collection_id",
                    "payment_status",
                    "payment_provider_id",
                    "payment_reference",
                    "capture_due_at",
                    "captured_at",
                    "captured_amount",
                    "created_at",
                    "updated_at",
                ],
                select(
                    literal("order_b") + n,
                    literal("cart_b") + n,
                    literal(region_id),
                    literal(channel_id),
                    literal("usd"),
                    literal("pending"),
                    literal(2799),
                    literal(0),
                    literal(2799),
                    literal("pay_col_b") + n,
                    literal("captured"),
                    literal("pp_system_default"),
                    literal("sysauth_b") + n,
                    literal(now),
                    literal(now),
                    literal(2799),
                    literal(now),
                    literal(now),
                ),
            )
        )


class bench_context:
    def __init__(self, url: str) -> None:
        self.prefix = f"bench{secrets.token_hex(4)}"
        self.context = build_context(load_settings(database_url=url, queue_prefix=self.prefix))

    async def __aenter__(self) -> Context:
        return self.context

    async def __aexit__(self, *exc: object) -> None:
        keys = [k async for k in self.context.redis.scan_iter(match=f"{self.prefix}:*", count=1000)]
        for start in range(0, len(keys), 1000):
            await self.context.redis.delete(*keys[start : start + 1000])
        await self.context.close()


async def run(flagged: int, orders: int) -> None:
    print(f"machine: {machine()}")
    started = time.perf_counter()
    await recovery_throughput(flagged)
    await scan_cost(orders, 1000)
    print(f"(benchmark wall time {time.perf_counter() - started:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flagged", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    args = parser.parse_args()
    asyncio.run(run(args.flagged, args.orders))


if __name__ == "__main__":
    main()
