"""A storefront's checkout through the official @medusajs/js-sdk against the real server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.e2e.conftest import Server

JS = Path(__file__).with_name("js")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sdk_installed() -> Path:
    npm = shutil.which("npm")
    assert npm, "npm is required for the JS SDK test (Node.js 20+)"
    if not (JS / "node_modules" / "@medusajs" / "js-sdk").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS, check=True, timeout=300)
    return JS


def test_checkout_through_the_official_js_sdk(server: Server, sdk_installed: Path) -> None:
    env = {**os.environ, "BASE_URL": server.url, "PUBLISHABLE_KEY": server.publishable_key}
    run = subprocess.run(
        ["node", "checkout.mjs"],
        cwd=sdk_installed,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["ok"] is True
    assert result["second_complete_order_id"] == result["order_id"]
    assert result["not_found_status"] == 404
    assert result["currency_code"] == "usd"
    assert result["order_total"] == result["item_total"] + result["shipping_total"]

    order = httpx.get(
        f"{server.url}/admin/orders/{result['order_id']}",
        headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
    ).json()["order"]
    assert order["payment_status"] == "authorized"
    assert order["email"] == "e2e@example.com"
