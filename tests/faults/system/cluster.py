"""The whole system as a user runs it: `surecapture api`, `worker` and `scheduler` processes
against a database of the test's own, a redis-server of its own behind a `RedisProxy`, the fake
Stripe (in a process of its own; every card is authorized and captured there) and a local
PostHog stand-in that receives the recovery events."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from surecapture.db.engine import build_engine, build_sessionmaker
from surecapture.db.models import Order, OrderLineItem, Payment
from surecapture.services.order_service import needs_recovery_clause
from tests.conftest import ADMIN_TOKEN, queue_prefix
from tests.fakes.fake_posthog import FakePostHog
from tests.fakes.fake_stripe import FAKE_API_KEY
from tests.fakes.stripe_process import FakeStripeProcess
from tests.faults.system.invariants import LedgerRow, OrderRow, Report, check
from tests.faults.system.proxy import RedisProxy
from tests.redis_tools import RedisServer, free_port
from tests.waiting import wait_until_healthy

WINDOW_SECONDS = 3
# How the storefront pays: a card that Stripe authorizes (the fake knows Stripe's test cards).
PAYMENT_PROVIDER, PAYMENT_DATA = "pp_stripe_stripe", {"payment_method": "pm_card_visa"}


@dataclass
class Cluster:
    database_url: str
    publishable_key: str
    workdir: Path
    redis_persist: bool = False
    redis: RedisServer = field(init=False)
    proxy: RedisProxy = field(init=False)
    posthog: FakePostHog = field(init=False)
    stripe: FakeStripeProcess = field(init=False)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    api_url: str = ""

    def __post_init__(self) -> None:
        self.redis = RedisServer(self.workdir, persist=self.redis_persist).start()
        self.proxy = RedisProxy(self.redis.port).start()
        self.posthog = FakePostHog().__enter__()
        self.stripe = FakeStripeProcess().__enter__()
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.proxy.url,
            "QUEUE_PREFIX": queue_prefix(),
            "PUBLISHABLE_API_KEY": self.publishable_key,
            "ADMIN_API_TOKEN": ADMIN_TOKEN,
            "POSTHOG_API_KEY": "phc_system_test",
            "POSTHOG_HOST": self.posthog.url,
            "STRIPE_API_KEY": FAKE_API_KEY,
            "STRIPE_API_BASE": self.stripe.url,
            "CAPTURE_WINDOW_SECONDS": str(WINDOW_SECONDS),
            "CAPTURE_BUFFER_SECONDS": "0",
            "CAPTURE_BACKOFF_MS": "200",
            "REDIS_BREAKER_COOLDOWN_SECONDS": "0.5",
            "FALLBACK_CRON": "* * * * * */3",  # every 3 seconds (croniter's seconds field, last)
            "FALLBACK_STALE_AFTER_SECONDS": "2",
            "WORKER_CONCURRENCY": "20",
            "WORKER_LOCK_SECONDS": "4",  # a killed worker's jobs are taken over within 6 s
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
            wait_until_healthy(self.api_url, self.processes[name], self.workdir / f"{name}.log")

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
        self.posthog.__exit__()
        self.stripe.__exit__(None, None, None)

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    async def metrics(self) -> dict[str, float]:
        """The API's /metrics, as `name{label="value"}` → value (labels sorted)."""
        async with httpx.AsyncClient(base_url=self.api_url, timeout=10) as client:
            text = (await client.get("/metrics")).text
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return samples

    def recovered(self) -> set[str]:
        """Orders whose recovery PostHog heard of (`redis_recovery_triggered`)."""
        return {e["properties"]["order_id"] for e in self.posthog.named("redis_recovery_triggered")}

    async def rows(self) -> tuple[list[OrderRow], list[LedgerRow]]:
        engine = build_engine(self.database_url, pool_size=1)
        try:
            async with build_sessionmaker(engine)() as session:
                items = (
                    select(func.count()).where(OrderLineItem.order_id == Order.id).scalar_subquery()
                )
                payments = (
                    select(func.count()).where(Payment.order_id == Order.id).scalar_subquery()
                )
                orders = [
                    OrderRow(
                        r.id,
                        r.payment_reference,
                        r.total,
                        r.payment_status,
                        r.capture_due_at,
                        bool(r.flagged),
                        r.cart_id,
                        whole=r.items > 0 and r.payments == 1,
                    )
                    for r in (
                        await session.execute(
                            select(
                                Order.id,
                                Order.payment_reference,
                                Order.total,
                                Order.payment_status,
                                Order.capture_due_at,
                                needs_recovery_clause().label("flagged"),
                                Order.cart_id,
                                items.label("items"),
                                payments.label("payments"),
                            )
                        )
                    ).all()
                ]
        finally:
            await engine.dispose()
        ledger = [
            LedgerRow(e.payment_intent, e.kind, e.amount, datetime.fromtimestamp(e.at, UTC))
            for e in self.stripe.ledger()
        ]
        return orders, ledger


@dataclass(frozen=True)
class Attempt:
    cart_id: str
    started: float  # time.monotonic()
    seconds: float
    status: int
    order_id: str | None
    message: str | None  # the error's, when it failed

    @classmethod
    def of(cls, cart_id: str, started: float, response: httpx.Response) -> Attempt:
        body = response.json()
        order_id = body["order"]["id"] if body.get("type") == "order" else None
        message = None if order_id else body.get("message", body.get("error", {}).get("message"))
        return cls(
            cart_id, started, time.monotonic() - started, response.status_code, order_id, message
        )


@dataclass
class Load:
    attempts: list[Attempt] = field(default_factory=list)
    cancels: list[int] = field(default_factory=list)  # the answers' statuses
    late_cancels: int = 0  # sent after the order's window had ended

    @property
    def checkouts(self) -> int:
        return len({a.cart_id for a in self.attempts})

    @property
    def placed(self) -> list[str]:
        return [a.order_id for a in self.attempts if a.order_id]

    def latencies_between(self, start: float, end: float) -> list[float]:
        """Of the `complete` calls that were under way at some moment between start and end."""
        return [a.seconds for a in self.attempts if self._overlaps(a, start, end)]

    def latencies_outside(self, start: float, end: float) -> list[float]:
        """Of the other `complete` calls: the same load on the same machine, without the fault."""
        return [a.seconds for a in self.attempts if not self._overlaps(a, start, end)]

    @staticmethod
    def _overlaps(attempt: Attempt, start: float, end: float) -> bool:
        return attempt.started <= end and attempt.started + attempt.seconds >= start


async def drive(
    url: str,
    key: str,
    carts: list[str],
    *,
    concurrency: int,
    cancel_every: int,
    on_progress: Callable[[int], Awaitable[None]],
    per_second: float | None = None,
    retry_503_for: float = 120,
) -> Load:
    """Completes every cart over HTTP; every `cancel_every`-th order is canceled at once with its
    modification token. `on_progress(n)` runs after each answer (to inject and heal faults).
    `per_second` paces the starts, to spread the load over a fault that lasts a while. A 503
    is retried after its Retry-After, for up to `retry_503_for` seconds into the load."""
    load = Load()
    pending = iter(enumerate(carts))
    began = time.monotonic()
    async with httpx.AsyncClient(
        base_url=url, headers={"x-publishable-api-key": key}, timeout=60
    ) as client:

        async def runner() -> None:
            for index, cart_id in pending:
                if per_second:
                    # A schedule, not a wait for a condition: cart i starts at i / per_second.
                    await asyncio.sleep(max(0.0, began + index / per_second - time.monotonic()))
                while True:
                    started = time.monotonic()
                    response = await client.post(f"/store/carts/{cart_id}/complete")
                    attempt = Attempt.of(cart_id, started, response)
                    load.attempts.append(attempt)
                    if response.status_code != 503 or started - began > retry_503_for:
                        break
                    # As a storefront would: the answer says when to try again.
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                if attempt.order_id and len(load.placed) % cancel_every == 0:
                    order = response.json()
                    canceled = await client.post(
                        f"/store/orders/{attempt.order_id}/cancel",
                        headers={"x-modification-token": order["modification_token"]},
                    )
                    due = datetime.fromisoformat(order["order"]["capture_due_at"])
                    if canceled.status_code in (401, 409) and datetime.now(UTC) >= due:
                        # The window ended before the cancel arrived (a slow `complete` under
                        # load): the token has expired or the capture is under way, as designed.
                        load.late_cancels += 1
                    else:
                        load.cancels.append(canceled.status_code)
                await on_progress(len(load.attempts))

        await asyncio.gather(*(runner() for _ in range(concurrency)))
    return load


async def quiescent(cluster: Cluster, load: Load, within: float = 90) -> Report:
    """Waits until every order is captured or canceled, none is flagged, and PostHog heard of
    every recovery the API's metrics count, then checks the invariants."""
    deadline = time.monotonic() + within
    while True:
        orders, ledger = await cluster.rows()
        report = check(load.checkouts, load.placed, orders, ledger)
        metrics = await cluster.metrics()
        report.flagged = int(
            metrics.get('surecapture_orders_flagged_total{reason="redis_failure"}', 0)
        )
        report.recovered = len(cluster.recovered())
        report.outage_impact = int(metrics["redis_outage_impact"])
        settled = all(o.payment_status in ("captured", "canceled") for o in orders)
        done = settled and not report.still_flagged and report.recovered >= report.flagged
        if (done and report.outage_impact == 0) or time.monotonic() > deadline:
            return report
        await asyncio.sleep(0.5)
