"""The README's "Try it" block, run as it stands: a new user starts the service, places an order,
stops Redis, places another, sees it flagged (admin API, metrics, health), starts Redis, runs
recovery and sees the order captured."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import queue_prefix
from tests.redis_tools import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]


def walkthrough() -> str:
    section = (ROOT / "README.md").read_text().split("## Try it:", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the README's Try it section has no sh block"
    return block[1]


def test_the_readme_outage_walkthrough_works_as_written(fresh_database_url: str) -> None:
    env = {
        **os.environ,
        # Free ports instead of the README's defaults; the database is a fresh copy rather than
        # the embedded one (tests/e2e/test_serve_embedded.py covers that path).
        "PORT": str(free_port()),
        "REDIS_PORT": str(free_port()),
        "DATABASE_URL": fresh_database_url,
        "QUEUE_PREFIX": queue_prefix(),
    }
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", walkthrough()],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the service and redis-server it starts share its group
    )
    try:
        output = process.communicate(timeout=200)[0].decode()
    finally:
        # Whatever the block started and did not stop (it stops both when it gets to the end).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, output
    orders = re.findall(r"^(order_\w+)$", output, re.M)
    assert len(orders) == 1, output  # the first order's id; the second went into $ORDER
    assert "authorized, total" in output
    flagged = re.search(r'^\{"orders":\[\{"id":"(order_\w+)".*"needs_recovery":true', output, re.M)
    assert flagged, output
    assert "redis_outage_impact 1.0" in output
    assert '"status":"degraded"' in output and '"redis":"down"' in output
    assert "recovered 1 flagged orders" in output
    assert '"count":0' in output
    captured = re.findall(
        r'^\{"order":\{"id":"(order_\w+)".*"payment_status":"captured"', output, re.M
    )
    assert captured == [flagged[1]], output
