"""The real server process, started through the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN, REDIS, queue_prefix
from tests.redis_tools import free_port
from tests.waiting import wait_until_healthy


@dataclass(frozen=True)
class Server:
    url: str
    publishable_key: str
    log: Path


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
