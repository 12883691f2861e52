"""Shared fixtures: a fresh Postgres database per test run, migrated and seeded once."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
import redis.asyncio

from surecapture.app import create_app
from surecapture.config import Settings, load_settings
from surecapture.context import Context
from surecapture.db import migrate
from surecapture.services.seed import seed_database
from tests.fakes.fake_posthog import fake_posthog_fixture  # noqa: F401
from tests.fakes.fake_stripe import fake_stripe_fixture, stripe_provider_fixture  # noqa: F401

POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Each run keeps its BullMQ keys under its own prefix on the shared Redis, and deletes them after.
# Each process with a worker of its own gets a prefix of its own (`queue_prefix()`), so no
# worker takes another test's jobs.
QUEUE_PREFIX = f"sctest{secrets.token_hex(4)}"


def queue_prefix() -> str:
    return f"{QUEUE_PREFIX}x{secrets.token_hex(3)}"


ADMIN_TOKEN = "test-admin-token"


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings come from each test's explicit values, never from the caller's shell."""
    for name in list(os.environ):
        if name in {"DATABASE_URL", "REDIS_URL", "ADMIN_API_TOKEN", "PUBLISHABLE_API_KEY"}:
            monkeypatch.delenv(name)
    yield


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    name = f"surecapture_test_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(f"{POSTGRES}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{POSTGRES.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def publishable_key(database_url: str) -> str:
    return (await seed_database(database_url, publishable_key=None)).publishable_key


@pytest.fixture(scope="session")
async def database_template(database_url: str, publishable_key: str) -> AsyncIterator[str]:
    """A migrated, seeded database nobody connects to, to copy from (`CREATE DATABASE … TEMPLATE`)."""
    name = database_url.rsplit("/", 1)[1] + "_tpl"
    admin = await asyncpg.connect(f"{POSTGRES}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{POSTGRES.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        await seed_database(url, publishable_key=publishable_key)
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def copied_database(template: str) -> AsyncIterator[str]:
    name = f"{template.removesuffix('_tpl')}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        yield f"{POSTGRES.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def fresh_database_url(database_template: str) -> AsyncIterator[str]:
    """A database of this test's own, for tests that scan every order (the fallback job) or
    start processes that do (`serve` runs the fallback scheduler)."""
    async with copied_database(database_template) as url:
        yield url


@pytest.fixture(scope="session")
async def session_database_copy(database_template: str) -> AsyncIterator[str]:
    """A database for the session-long server process, whose fallback scheduler would otherwise
    recover other tests' flagged orders in the shared database."""
    async with copied_database(database_template) as url:
        yield url


@pytest.fixture(scope="session")
async def _queue_keys_removed() -> AsyncIterator[None]:
    yield
    client = redis.asyncio.Redis.from_url(REDIS)
    try:
        keys = [key async for key in client.scan_iter(match=f"{QUEUE_PREFIX}*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def settings(database_url: str, publishable_key: str, _queue_keys_removed: None) -> Settings:
    return load_settings(
        database_url=database_url,
        redis_url=REDIS,
        queue_prefix=QUEUE_PREFIX,
        admin_api_token=ADMIN_TOKEN,
        publishable_api_key=publishable_key,
        capture_window_seconds=3600,
    )


@pytest.fixture(scope="session")
async def app_and_context(settings: Settings) -> AsyncIterator[tuple[object, Context]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app, app.state.context


@pytest.fixture(scope="session")
def context(app_and_context: tuple[object, Context]) -> Context:
    return app_and_context[1]


@pytest.fixture
async def client(
    app_and_context: tuple[object, Context], publishable_key: str
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_and_context[0], raise_app_exceptions=False)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://surecapture.test",
        headers={"x-publishable-api-key": publishable_key},
    ) as http:
        yield http


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> httpx.AsyncClient:
    client.headers["authorization"] = f"Bearer {ADMIN_TOKEN}"
    return client
