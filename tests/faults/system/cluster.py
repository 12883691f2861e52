"""The whole system as a user runs it: `surecapture api`, `worker` and `scheduler` processes
against a database of the test's own, a redis-server of its own behind a `RedisProxy`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select

from surecapture.db.engine import build_engine, build_sessionmaker
from surecapture.db.models import Order, SystemPaymentOperation
from surecapture.services.order_service import needs_recovery_clause
from tests.conftest import ADMIN_TOKEN, queue_prefix
from tests.faults.system.invariants import LedgerRow, OrderRow, Report, check
from tests.faults.system.proxy import RedisProxy
from tests.redis_tools import RedisServer, free_port

WINDOW_SECONDS = 3


@dataclass
class Cluster:
    database_url: str
    publishable_key: str
    workdir: Path
    redis: RedisServer = field(init=False)
    proxy: RedisProxy = field(init=False)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    api_url: str = ""

    def __post_init__(self) -> None:
        self.redis = RedisServer(self.workdir).start()
        self.proxy = RedisProxy(self.redis.port).start()
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.proxy.url,
            "QUEUE_PREFIX": queue_prefix(),
            "PUBLISHABLE_API_KEY": self.publishable_key,
            "ADMIN_API_TOKEN": ADMIN_TOKEN,
            "CAPTURE_WINDOW_SECONDS": str(WINDOW_SECONDS),
            "CAPTURE_BUFFER_SECONDS": "0",
            "CAPTURE_BACKOFF_MS": "200",
            "REDIS_BREAKER_COOLDOWN_SECONDS": "0.5",
            "FALLBACK_CRON": "* * * * * */3",  # every 3 seconds (croniter's seconds field, last)
            "FALLBACK_STALE_AFTER_SECONDS": "2",
            "WORKER_CONCURRENCY": "20",
            "LOG_LEVEL": "WARNING",
        }

    def start(self, name: str) -> None:
        command = {"api": "api", "worker": "worker", "scheduler": "scheduler"}[name.split("-")[0]]
        env = dict(self.env)
        if command == "api":
            port = free_port()
            env["PORT"] = str(port)
            self.api_url = f"http://127.0.0.1:{port}"
        with (self.workdir / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "surecapture", command],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if command == "api":
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or self.processes[name].poll() is not None:
                    raise RuntimeError((self.workdir / f"{name}.log").read_text())
                time.sleep(0.1)  # polling a condition, with a deadline

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.proxy.stop()
        self.redis.kill()

    async def rows(self) -> tuple[list[OrderRow], list[LedgerRow]]:
        engine = build_engine(self.database_url, pool_size=1)
        try:
            async with build_sessionmaker(engine)() as session:
                flagged = needs_recovery_clause()
                orders = [
                    OrderRow(
                        r.id,
                        r.payment_reference,
                        r.total,
                        r.payment_status,
                        r.capture_due_at,
                        bool(r.flagged),
                    )
                    for r in (
                        await session.execute(
                            select(
                                Order.id,
                                Order.payment_reference,
                                Order.total,
                                Order.payment_status,
                                Order.capture_due_at,
                                flagged.label("flagged"),
                            )
                        )
                    ).all()
                ]
                ledger = [
                    LedgerRow(r.reference, r.kind, r.amount, r.created_at)
                    for r in (await session.execute(select(SystemPaymentOperation))).scalars().all()
                ]
        finally:
            await engine.dispose()
        return orders, ledger


@dataclass
class Load:
    placed: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    canceled: int = 0


async def drive(
    url: str,
    key: str,
    carts: list[str],
    *,
    concurrency: int,
    cancel_every: int,
    on_progress: Callable[[int], Awaitable[None]],
) -> Load:
    """Completes every cart over HTTP; every `cancel_every`-th order is canceled at once with its
    modification token. `on_progress(n)` runs after each answer (to inject and heal faults)."""
    load = Load()
    pending = iter(carts)
    async with httpx.AsyncClient(
        base_url=url, headers={"x-publishable-api-key": key}, timeout=60
    ) as client:

        async def runner() -> None:
            for cart_id in pending:
                started = time.perf_counter()
                response = await client.post(f"/store/carts/{cart_id}/complete")
                load.latencies.append(time.perf_counter() - started)
                load.statuses.append(response.status_code)
                if response.status_code == 200 and response.json().get("type") == "order":
                    body = response.json()
                    load.placed.append(body["order"]["id"])
                    if len(load.placed) % cancel_every == 0:
                        canceled = await client.post(
                            f"/store/orders/{body['order']['id']}/cancel",
                            headers={"x-modification-token": body["modification_token"]},
                        )
                        load.canceled += canceled.status_code == 200
                await on_progress(len(load.statuses))

        await asyncio.gather(*(runner() for _ in range(concurrency)))
    return load


async def quiescent(cluster: Cluster, placed: list[str], within: float = 90) -> Report:
    """Waits until every order is captured or canceled and none is flagged, then checks."""
    deadline = time.monotonic() + within
    while True:
        orders, ledger = await cluster.rows()
        report = check(len(placed), placed, orders, ledger)
        settled = all(o.payment_status in ("captured", "canceled") for o in orders)
        if (settled and not report.still_flagged) or time.monotonic() > deadline:
            return report
        await asyncio.sleep(0.5)
