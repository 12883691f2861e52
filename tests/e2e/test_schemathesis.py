"""Property-based requests from our own OpenAPI schema: no request may make the server fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


def test_no_request_makes_the_server_answer_5xx(server: Server, tmp_path: Path) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is part of the dev dependencies"
    run = subprocess.run(
        [
            st,
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"x-publishable-api-key: {server.publishable_key}",
            "--header",
            f"Authorization: Bearer {ADMIN_TOKEN}",
            "--max-examples",
            "25",
            "--seed",
            "20261203",
            "--request-timeout",
            "10",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    server_log = server.log.read_text()
    assert "Traceback" not in server_log, server_log[-4000:]
