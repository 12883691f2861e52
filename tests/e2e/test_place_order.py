"""`surecapture place-order` says which step failed, and why, instead of a stack trace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Server
from tests.redis_tools import free_port

pytestmark = pytest.mark.e2e

KEY = "pk_" + "0" * 64


def place_order(
    *args: str, key: str | None = KEY, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)  # without PUBLISHABLE_API_KEY: the autouse _clean_environ drops it
    if key:
        env["PUBLISHABLE_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "surecapture", "place-order", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_service_listening_names_the_step_and_exits_1() -> None:
    run = place_order("--url", f"http://127.0.0.1:{free_port()}")
    assert run.returncode == 1
    assert run.stderr.startswith("surecapture: order not placed: regions: cannot reach")
    assert "Traceback" not in run.stderr


def test_without_a_key_it_says_where_to_get_one_and_exits_2() -> None:
    run = place_order(key=None)
    assert run.returncode == 2
    assert "--key or PUBLISHABLE_API_KEY" in run.stderr


def test_a_wrong_key_shows_the_store_api_answer(server: Server) -> None:
    run = place_order("--url", server.url)
    assert run.returncode == 1
    assert "regions: 400" in run.stderr
    assert "A valid publishable key is required" in run.stderr


def test_against_the_running_service_it_prints_the_order_id(server: Server) -> None:
    run = place_order("--url", server.url, key=server.publishable_key)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("order_")
    assert run.stderr.startswith("authorized, total")


def test_the_key_may_come_from_a_dot_env_file(server: Server, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"PUBLISHABLE_API_KEY={server.publishable_key}\n")
    run = place_order("--url", server.url, key=None, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("order_")
