"""Labelled counters are exported at 0 before their first increment, for every label value the
code uses; otherwise `increase()` misses the first burst after a restart (and the flagged-orders
alert stays silent through the first outage)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from surecapture import metrics
from surecapture.jobs.fallback_capture import Summary
from surecapture.subscribers.order_placed import RECOVERY_REASON
from surecapture.workers.payment_capture_worker import Outcome

FRESH_SCRAPE = (
    "import surecapture.metrics, prometheus_client; "
    "print(prometheus_client.generate_latest().decode())"
)
SRC = Path(__file__).resolve().parents[2] / "src" / "surecapture"


def test_the_flag_counter_is_exported_at_zero_before_any_order_is_flagged() -> None:
    assert RECOVERY_REASON in metrics.FLAG_REASONS
    # A process of its own: in this one, earlier tests may have flagged orders already.
    exported = subprocess.run(
        [sys.executable, "-c", FRESH_SCRAPE], capture_output=True, text=True, check=True
    ).stdout
    assert f'surecapture_orders_flagged_total{{reason="{RECOVERY_REASON}"}} 0.0' in exported


def labels_used(counter: str, label: str) -> set[str]:
    """Literal values passed as `metrics.<counter>.labels(<label>=...)` anywhere in src."""
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "labels"
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == counter
            ):
                for keyword in node.keywords:
                    if keyword.arg == label:
                        found |= {
                            c.value
                            for c in ast.walk(keyword.value)
                            if isinstance(c, ast.Constant) and isinstance(c.value, str)
                        }
    return found


def run_statuses() -> set[str]:
    """The statuses a fallback run can end with (`summary.status = "..."`), its metric's label."""
    tree = ast.parse((SRC / "jobs" / "fallback_capture.py").read_text())
    return {Summary().status} | {
        node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Attribute) and t.attr == "status" for t in node.targets)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def test_every_label_value_the_code_uses_is_initialized() -> None:
    outcomes = {o.value for o in Outcome} | labels_used("CAPTURES", "outcome")
    assert outcomes <= set(metrics.CAPTURE_OUTCOMES)
    assert labels_used("FALLBACK_ORDERS", "kind") <= set(metrics.FALLBACK_KINDS)
    assert run_statuses() | labels_used("FALLBACK_RUNS", "status") <= set(metrics.FALLBACK_STATUSES)
    assert len(outcomes) == 8 and len(run_statuses()) == 4  # the finders found them all
