"""Whole-system fault scenarios: real processes, a storefront load, a fault mid-load, healing,
quiescence, then the invariants (I1-I5 of design.md) against Postgres and the payment ledger."""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from bench.setup import insert_ready_carts
from surecapture.db.engine import build_engine, build_sessionmaker
from tests.faults.system.cluster import Cluster, Load, drive, quiescent

CHECKOUTS = 300

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]


@pytest.fixture
def cluster(fresh_database_url: str, publishable_key: str, tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(fresh_database_url, publishable_key, tmp_path)
    try:
        for name in ("api", "worker", "scheduler"):
            running.start(name)
        yield running
    finally:
        running.stop()


async def ready_carts(database_url: str, count: int) -> list[str]:
    engine = build_engine(database_url, pool_size=2)
    try:
        return await insert_ready_carts(build_sessionmaker(engine), count)
    finally:
        await engine.dispose()


def fault_between(
    start: int, end: int, inject: Callable[[], None], heal: Callable[[], None]
) -> Callable[[int], Awaitable[None]]:
    state = {"injected": False, "healed": False}

    async def on_progress(done: int) -> None:
        if done >= start and not state["injected"]:
            state["injected"] = True
            inject()
        if done >= end and not state["healed"]:
            state["healed"] = True
            heal()

    return on_progress


async def run_scenario(
    name: str,
    cluster: Cluster,
    database_url: str,
    key: str,
    on_progress: Callable[[int], Awaitable[None]],
) -> None:
    carts = await ready_carts(database_url, CHECKOUTS)
    load: Load = await drive(
        cluster.api_url, key, carts, concurrency=12, cancel_every=10, on_progress=on_progress
    )
    report = await quiescent(cluster, load.placed)
    p99 = statistics.quantiles(load.latencies, n=100)[98] * 1000
    print(
        f"\n[{name}] checkouts {len(load.statuses)}, orders {report.orders}, captured "
        f"{report.captured}, canceled {report.canceled}, flagged {report.flagged}, lost "
        f"{len(report.lost)}, doubled {len(report.doubled)}, p99 complete {p99:.0f} ms"
    )
    assert load.statuses == [200] * CHECKOUTS
    assert len(set(load.placed)) == CHECKOUTS == report.orders
    assert report.ok, report


async def test_redis_unreachable_then_back(
    cluster: Cluster, fresh_database_url: str, publishable_key: str
) -> None:
    cluster.start("scheduler-2")  # two schedulers at once: the advisory lock keeps runs single
    progress = fault_between(
        60, 200, lambda: cluster.proxy.set_mode("refuse"), lambda: cluster.proxy.set_mode("pass")
    )
    await run_scenario(
        "redis refused, two schedulers", cluster, fresh_database_url, publishable_key, progress
    )


async def test_redis_restarted_empty(
    cluster: Cluster, fresh_database_url: str, publishable_key: str
) -> None:
    progress = fault_between(100, 101, cluster.redis.kill, cluster.redis.start)
    await run_scenario(
        "redis restarted empty", cluster, fresh_database_url, publishable_key, progress
    )


async def test_redis_hangs_then_answers(
    cluster: Cluster, fresh_database_url: str, publishable_key: str
) -> None:
    progress = fault_between(
        60, 200, lambda: cluster.proxy.set_mode("hang"), lambda: cluster.proxy.set_mode("pass")
    )
    await run_scenario("redis read-hang", cluster, fresh_database_url, publishable_key, progress)


async def test_worker_killed_mid_capture(
    cluster: Cluster, fresh_database_url: str, publishable_key: str
) -> None:
    def kill_and_replace() -> None:
        cluster.kill("worker")
        cluster.start("worker-2")

    progress = fault_between(150, 150, kill_and_replace, lambda: None)
    await run_scenario("worker killed", cluster, fresh_database_url, publishable_key, progress)
