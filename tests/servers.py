"""A service process started through the CLI, as a user starts it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.redis_tools import free_port
from tests.waiting import wait_until_healthy


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
