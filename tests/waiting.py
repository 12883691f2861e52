"""Waiting on a condition, never on the clock alone."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, within: float = 15, interval: float = 0.05
) -> T:
    """Poll `probe` until it returns something truthy (so never None); fail after `within`
    seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {within} s (last: {value!r})")
        await asyncio.sleep(interval)


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Block until the server at `url` answers /health with 200; fail at once if its process
    exits, and after 60 s if it never answers. Either failure shows the server's log."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling a condition, with a deadline
    raise TimeoutError(f"server not healthy within 60 s:\n{log.read_text()}")


async def transactions_waiting(engine: AsyncEngine, at_least: int) -> bool:
    """Whether `at_least` transactions wait on a row lock: for tests that line up concurrent
    writers behind a lock they hold, then let go."""
    async with engine.connect() as connection:
        waits: int = await connection.scalar(
            text("SELECT count(*) FROM pg_locks WHERE NOT granted")
        )
    return waits >= at_least
