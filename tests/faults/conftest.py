"""The app in-process against a Redis that fails for real (refused, hanging, silent, unresolvable,
killed), each test with its own Redis target, queue prefix and subscriber state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from sqlalchemy import select

from surecapture.config import Settings
from surecapture.context import Context
from surecapture.db.models import Order
from tests.apps import running_app
from tests.conftest import queue_prefix

Stack = tuple[httpx.AsyncClient, Context]


@pytest.fixture
def app_against(
    settings: Settings, publishable_key: str
) -> Callable[..., AbstractAsyncContextManager[Stack]]:
    @asynccontextmanager
    async def start(redis_url: str, **overrides: object) -> AsyncIterator[Stack]:
        """`overrides` are settings, e.g. `database_url=fresh_database_url`."""
        own = settings.model_copy(
            update={
                "redis_url": redis_url,
                "queue_prefix": queue_prefix(),
                "redis_breaker_cooldown_seconds": 0.2,
                **overrides,
            }
        )
        async with running_app(own, publishable_key) as stack:
            yield stack

    return start


async def metadata_of(context: Context, order_id: str) -> dict[str, object]:
    async with context.db() as session:
        value: dict[str, object] | None = await session.scalar(
            select(Order.metadata_).where(Order.id == order_id)
        )
    assert value is not None
    return value
