"""The operations kit: alert rules pass promtool's unit tests, and every dashboard query names a
metric the service really exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from prometheus_client import REGISTRY

import surecapture.metrics  # noqa: F401 - registers the service's metrics

ROOT = Path(__file__).resolve().parents[2]
PROMTOOL = ROOT / ".tools" / "prometheus" / "usr" / "bin" / "promtool"
# PromQL words that are not metric names.
PROMQL = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "rate",
    "irate",
    "increase",
    "by",
    "without",
    "on",
    "histogram_quantile",
    "le",
    "and",
    "or",
    "unless",
    "time",
    "clamp_min",
    "vector",
    "bool",
    "offset",
    "topk",
    "ignoring",
    "group_left",
    "abs",
    "delta",
    "deriv",
}


SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
    "stateset": ("",),
}


def exported_names() -> set[str]:
    """Every series name the registry exposes, also for labelled metrics with no child yet."""
    names = set()
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


def promql_metrics(expr: str) -> set[str]:
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    without_labels = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", without_labels
    )
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_labels)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_ranges))
    return {w for w in words if w not in PROMQL and not w.isdigit()}


def test_alert_rules_pass_promtool() -> None:
    assert PROMTOOL.exists(), "scripts/test unpacks promtool into .tools/"
    rules = ROOT / "deploy" / "prometheus"
    check = subprocess.run(
        [PROMTOOL, "check", "rules", "alerts.yml"], cwd=rules, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run(
        [PROMTOOL, "test", "rules", "alerts.test.yml"], cwd=rules, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_alert_rules_name_exported_metrics() -> None:
    text = (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()
    exprs = re.findall(r"expr: (.+)", text)
    assert len(exprs) == 5
    missing = {m for e in exprs for m in promql_metrics(e)} - exported_names()
    assert missing == set()


def test_every_dashboard_query_names_an_exported_metric() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "surecapture.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(exprs) >= 7
    exported = exported_names()
    for expr in exprs:
        named = promql_metrics(expr)
        assert named, expr
        assert named <= exported, f"{expr}: {named - exported} not exported"


def test_the_checker_catches_a_wrong_name() -> None:
    expr = 'sum by (outcome) (rate(surecapture_nope_total{outcome="x"}[5m]))'
    assert promql_metrics(expr) == {"surecapture_nope_total"}
    assert not promql_metrics(expr) <= exported_names()
