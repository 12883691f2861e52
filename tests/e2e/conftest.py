"""The real server process, started through the CLI as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, REDIS, queue_prefix


@dataclass(frozen=True)
class Server:
    url: str
    publishable_key: str
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling a condition, with a deadline
    raise TimeoutError(f"server not healthy within 60 s:\n{log.read_text()}")


@contextmanager
def running_server(
    env: dict[str, str], cwd: Path, log: Path, command: str = "serve"
) -> Iterator[str]:
    """`surecapture serve` (or `api`) as a user runs it; yields its URL once /health answers."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "surecapture", command],
            env={**env, "PORT": str(port)},
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def server(
    session_database_copy: str, publishable_key: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("server")
    env = {
        **os.environ,
        "DATABASE_URL": session_database_copy,
        "ADMIN_API_TOKEN": ADMIN_TOKEN,
        "PUBLISHABLE_API_KEY": publishable_key,
        "REDIS_URL": REDIS,
        "QUEUE_PREFIX": queue_prefix(),
    }
    log = workdir / "server.log"
    with running_server(env, workdir, log) as url:
        yield Server(url, publishable_key, log)
