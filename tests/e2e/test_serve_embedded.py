"""The README's run command on a machine with no DATABASE_URL: embedded Postgres, set up alone."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

from tests import storefront
from tests.conftest import queue_prefix
from tests.servers import running_server

pytestmark = pytest.mark.e2e


async def test_serve_without_database_url_runs_on_embedded_postgres(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "PUBLISHABLE_API_KEY"}}
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "run")
    env["QUEUE_PREFIX"] = queue_prefix()
    log = tmp_path / "serve.log"
    with running_server(env, tmp_path, log) as url:
        printed = log.read_text()
        key = re.search(r"publishable key: (pk_[0-9a-f]{64})", printed)
        assert key, printed
        assert "admin token" in printed
        async with httpx.AsyncClient(
            base_url=url, headers={"x-publishable-api-key": key[1]}
        ) as client:
            cart = await storefront.ready_cart(client)
            result = await storefront.complete(client, cart["id"])
            assert result["order"]["payment_status"] == "authorized"
    pgdata = tmp_path / ".surecapture" / "pgdata"
    assert (pgdata / "PG_VERSION").exists()
    assert not processes_using(pgdata), "the embedded Postgres outlived the service"


def processes_using(path: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(path) in (proc / "cmdline").read_text():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids
