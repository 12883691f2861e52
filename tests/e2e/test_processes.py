"""The production layout: API and capture worker as separate processes, started by the CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests import storefront
from tests.conftest import ADMIN_TOKEN, REDIS, queue_prefix
from tests.redis_tools import RedisServer, free_port, redis_server
from tests.servers import running_server
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


def cli(command: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """`surecapture <command>` run to its end, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "surecapture", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def env_for(database_url: str, publishable_key: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "PUBLISHABLE_API_KEY": publishable_key,
        "ADMIN_API_TOKEN": ADMIN_TOKEN,
        "REDIS_URL": REDIS,
        "QUEUE_PREFIX": queue_prefix(),
        "CAPTURE_WINDOW_SECONDS": "2",
        "CAPTURE_BUFFER_SECONDS": "0",
        **extra,
    }


async def wait_captured(url: str, order_id: str) -> None:
    async def captured() -> bool:
        async with httpx.AsyncClient(base_url=url) as admin:
            response = await admin.get(
                f"/admin/orders/{order_id}", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
            )
        return bool(response.json()["order"]["payment_status"] == "captured")

    await eventually(captured, within=30)


async def test_serve_runs_api_and_worker_in_one_process(
    fresh_database_url: str, publishable_key: str, tmp_path: Path
) -> None:
    env = env_for(fresh_database_url, publishable_key)
    with running_server(env, tmp_path, tmp_path / "serve.log") as url:
        async with httpx.AsyncClient(
            base_url=url, headers={"x-publishable-api-key": publishable_key}
        ) as client:
            cart = await storefront.ready_cart(client)
            order = (await storefront.complete(client, cart["id"]))["order"]
        await wait_captured(url, order["id"])


async def test_api_and_worker_as_separate_processes(
    fresh_database_url: str, publishable_key: str, tmp_path: Path
) -> None:
    env = env_for(fresh_database_url, publishable_key)
    metrics_port = free_port()
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "surecapture", "worker"],
            env={**env, "METRICS_PORT": str(metrics_port)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with running_server(env, tmp_path, tmp_path / "serve.log", command="api") as url:
            async with httpx.AsyncClient(
                base_url=url, headers={"x-publishable-api-key": publishable_key}
            ) as client:
                cart = await storefront.ready_cart(client)
                order = (await storefront.complete(client, cart["id"]))["order"]
            await wait_captured(url, order["id"])
        # The worker's own /metrics counts the capture it made (the API's cannot see it).
        captured = 'surecapture_captures_total{outcome="captured"} 1.0'
        scrape = await eventually(lambda: _scrape(metrics_port, captured))
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, log.read_text()
    assert "capture worker stopping" in log.read_text()
    assert "surecapture_redis_up" not in scrape and "redis_outage_impact" not in scrape


def test_scheduler_serves_only_its_own_metrics(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS,
        "QUEUE_PREFIX": queue_prefix(),
        "METRICS_PORT": str(port),
    }
    log = tmp_path / "scheduler.log"
    with log.open("wb") as out:
        scheduler = subprocess.Popen(
            [sys.executable, "-m", "surecapture", "scheduler"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        scrape = asyncio.run(eventually(lambda: _scrape(port), within=60))
    finally:
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=30) == 0, log.read_text()
    assert "# TYPE surecapture_fallback_runs_total counter" in scrape
    assert "surecapture_fallback_seconds_count 0.0" in scrape
    assert "surecapture_redis_up" not in scrape and "surecapture_captures" not in scrape


async def _scrape(port: int, containing: str = "") -> str | None:
    """The process's /metrics once it answers and shows `containing`."""
    try:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    except httpx.TransportError:
        return None
    return text if containing in text else None


def test_a_metrics_port_in_use_stops_start_up_with_one_clear_line(
    database_url: str, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "DATABASE_URL": database_url, "METRICS_PORT": str(port)}
        run = cli("worker", env, timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.strip().splitlines() == [
        f"surecapture: METRICS_PORT {port} on 127.0.0.1: Address already in use"
    ]


def test_bad_redis_url_stops_start_up_with_one_clear_line(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": "http://127.0.0.1:6379"}
    run = cli("worker", env, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "surecapture: Invalid setting REDIS_URL: Value error, not a valid Redis URL "
        "(Redis URL must specify one of the following schemes (redis://, rediss://, unix://))"
    ]


@pytest.mark.parametrize(
    ("redis_up", "code", "status"), [(True, 0, "done"), (False, 4, "redis_down")]
)
def test_recover_runs_the_fallback_once_and_says_what_it_did(
    fresh_database_url: str, tmp_path: Path, redis_up: bool, code: int, status: str
) -> None:
    with redis_server(tmp_path) as server:
        url = server.url if redis_up else f"redis://127.0.0.1:{free_port()}/0"
        env = {
            **os.environ,
            "DATABASE_URL": fresh_database_url,
            "REDIS_URL": url,
            "QUEUE_PREFIX": queue_prefix(),
        }
        run = cli("recover", env, timeout=120)
    assert run.returncode == code, run.stdout + run.stderr
    assert f"fallback capture {status}: recovered 0 flagged orders" in run.stdout


def test_migrate_against_an_unreachable_database_says_so_in_one_line() -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"postgresql://127.0.0.1:{port}/shop"}
    run = cli("migrate", env, timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.strip().splitlines() == [
        f"surecapture: the database at 127.0.0.1:{port}/shop cannot be used: [Errno 111] "
        f"Connect call failed ('127.0.0.1', {port})"
    ]


def test_recover_against_a_redis_that_refuses_its_credentials_exits_4(
    fresh_database_url: str, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path, password="secret").start()
    try:
        env = {
            **os.environ,
            "DATABASE_URL": fresh_database_url,
            "REDIS_URL": f"redis://:wrong@127.0.0.1:{server.port}/0",
            "QUEUE_PREFIX": queue_prefix(),
        }
        run = cli("recover", env, timeout=60)
    finally:
        server.kill()
    assert run.returncode == 4, run.stdout + run.stderr
    assert (
        run.stderr.strip()
        .splitlines()[-1]
        .startswith("surecapture: Redis refused the fallback run (AuthenticationError")
    )
    assert "Traceback" not in run.stderr
