"""`complete` latency while Redis is up, refused, hanging on connect, and hanging on read.

    .venv/bin/python -m bench.checkout_under_outage [--checkouts 300] [--concurrency 8]

Four `surecapture api` processes (one per Redis mode) share a scratch Postgres database. Each
mode gets its carts written straight into Postgres, a warm-up of 20 checkouts (the outage's
onset: the checkouts in flight when Redis is first found down wait for the timeout, reported
as `onset max`), then `--checkouts` measured completes at `--concurrency`, the modes interleaved
in rounds so that they share the machine's noise. Latency is measured by the client, end to end
over HTTP. Printed as p50/p99 and checkouts per second, and as ratios to the Redis-up figures
(target: every p99 ratio <= 1.2).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from bench.setup import BENCH_KEY, machine, scratch_database
from surecapture.db.engine import build_engine, build_sessionmaker
from tests.ready_carts import insert_ready_carts
from tests.redis_tools import free_port, redis_server, silent_proxy, unaccepting_listener
from tests.servers import running_server

MODES = ("up", "refused", "connect-hang", "read-hang")
ROUNDS = 3
WARMUP = 20


@contextmanager
def api_process(database_url: str, redis_url: str, workdir: Path, name: str) -> Iterator[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PUBLISHABLE_API_KEY": BENCH_KEY,
        "QUEUE_PREFIX": f"bench{name}{secrets.token_hex(3)}",
        "LOG_LEVEL": "ERROR",
    }
    with running_server(env, workdir, workdir / f"{name}.log", command="api") as url:
        yield url


async def complete_all(url: str, carts: list[str], concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    pending = iter(carts)
    async with httpx.AsyncClient(
        base_url=url, headers={"x-publishable-api-key": BENCH_KEY}, timeout=30
    ) as client:

        async def runner() -> None:
            for cart_id in pending:
                started = time.perf_counter()
                response = await client.post(f"/store/carts/{cart_id}/complete")
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200 or response.json()["type"] != "order":
                    raise RuntimeError(f"complete answered {response.status_code}: {response.text}")

        started = time.perf_counter()
        await asyncio.gather(*(runner() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


def p(values: list[float], q: int) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1] if q < 100 else max(values)
    )


async def run(checkouts: int, concurrency: int, workdir: Path) -> None:
    async with scratch_database() as database_url:
        engine = build_engine(database_url, pool_size=2)
        per_mode = WARMUP + checkouts
        carts = await insert_ready_carts(build_sessionmaker(engine), per_mode * len(MODES))
        await engine.dispose()
        with ExitStack() as stack:
            redis = stack.enter_context(redis_server(workdir))
            targets = {
                "up": redis.url,
                "refused": f"redis://127.0.0.1:{free_port()}/0",
                "connect-hang": f"redis://127.0.0.1:{stack.enter_context(unaccepting_listener())}/0",
                "read-hang": f"redis://127.0.0.1:{stack.enter_context(silent_proxy())}/0",
            }
            urls = {
                m: stack.enter_context(api_process(database_url, targets[m], workdir, m))
                for m in MODES
            }
            queues = {m: carts[i * per_mode : (i + 1) * per_mode] for i, m in enumerate(MODES)}
            onset = {}
            for mode in MODES:
                warm, _ = await complete_all(urls[mode], queues[mode][:WARMUP], concurrency)
                onset[mode] = max(warm)
            latencies: dict[str, list[float]] = {m: [] for m in MODES}
            seconds = dict.fromkeys(MODES, 0.0)
            chunk = checkouts // ROUNDS
            for round_ in range(ROUNDS):
                for mode in MODES:
                    start = WARMUP + round_ * chunk
                    end = WARMUP + checkouts if round_ == ROUNDS - 1 else start + chunk
                    measured, wall = await complete_all(
                        urls[mode], queues[mode][start:end], concurrency
                    )
                    latencies[mode] += measured
                    seconds[mode] += wall

    print(f"machine: {machine()}")
    print(
        f"{checkouts} completes per mode over HTTP, concurrency {concurrency}, after {WARMUP} warm-up"
    )
    base = latencies["up"]
    base_p50, base_p99, base_rate = p(base, 50), p(base, 99), len(base) / seconds["up"]
    print(
        f"{'redis':<13}{'p50 ms':>8}{'p99 ms':>8}{'/s':>7}{'p50 x':>7}{'p99 x':>7}{'/s x':>7}{'onset max ms':>14}"
    )
    for mode in MODES:
        values = latencies[mode]
        p50, p99, rate = p(values, 50), p(values, 99), len(values) / seconds[mode]
        print(
            f"{mode:<13}{p50 * 1000:>8.1f}{p99 * 1000:>8.1f}{rate:>7.1f}"
            f"{p50 / base_p50:>7.2f}{p99 / base_p99:>7.2f}{rate / base_rate:>7.2f}"
            f"{onset[mode] * 1000:>14.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as workdir:
        asyncio.run(run(args.checkouts, args.concurrency, Path(workdir)))


if __name__ == "__main__":
    main()
