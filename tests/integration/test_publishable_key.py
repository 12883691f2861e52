import secrets
import time
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import update

from surecapture.context import KEY_SCOPE_SECONDS, Context
from surecapture.db.models import PublishableKey
from surecapture.ids import new_id

MISSING = (
    "Publishable API key required in the request header: x-publishable-api-key. "
    "You can manage your keys in settings in the dashboard."
)


async def test_missing_key_is_refused(client: httpx.AsyncClient) -> None:
    del client.headers["x-publishable-api-key"]
    response = await client.get("/store/regions")
    assert response.status_code == 400
    assert response.json() == {"type": "not_allowed", "message": MISSING}


async def test_unknown_key_is_refused(client: httpx.AsyncClient) -> None:
    client.headers["x-publishable-api-key"] = "pk_" + "0" * 64
    response = await client.post("/store/carts", json={})
    assert response.status_code == 400
    assert response.json() == {
        "type": "not_allowed",
        "message": "A valid publishable key is required to proceed with the request",
    }


async def test_cors_preflight_passes_without_a_key(client: httpx.AsyncClient) -> None:
    del client.headers["x-publishable-api-key"]
    response = await client.options(
        "/store/carts",
        headers={
            "origin": "http://localhost:8000",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-publishable-api-key",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:8000"
    assert response.headers["access-control-allow-credentials"] == "true"


async def test_health_needs_no_key(client: httpx.AsyncClient) -> None:
    del client.headers["x-publishable-api-key"]
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["postgres"] == "up"


async def test_a_revoked_key_works_until_its_remembered_scope_expires(
    client: httpx.AsyncClient, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "pk_" + secrets.token_hex(32)
    async with context.db.begin() as session:
        session.add(PublishableKey(id=new_id("apk"), token=token, title="revoked soon"))
    client.headers["x-publishable-api-key"] = token
    assert (await client.get("/store/regions")).status_code == 200
    async with context.db.begin() as session:
        await session.execute(
            update(PublishableKey)
            .where(PublishableKey.token == token)
            .values(revoked_at=datetime.now(UTC))
        )
    assert (await client.get("/store/regions")).status_code == 200  # remembered
    later = time.monotonic() + KEY_SCOPE_SECONDS
    monkeypatch.setattr("surecapture.context._clock", lambda: later)
    refused = await client.get("/store/regions")
    assert refused.status_code == 400
    assert refused.json()["type"] == "not_allowed"
