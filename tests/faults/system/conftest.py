"""Each scenario's one line, repeated at the end of the run (pytest hides a passing test's
output), so a CI log always shows what every scenario counted."""

from __future__ import annotations

import pytest

SCENARIO_LINES: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SCENARIO_LINES:
        terminalreporter.write_sep("=", "whole-system fault scenarios")
        for line in SCENARIO_LINES:
            terminalreporter.write_line(line)
