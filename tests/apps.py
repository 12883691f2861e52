"""An app of a test's own (its settings, its Redis target, its queue prefix), in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from surecapture.app import create_app
from surecapture.config import Settings
from surecapture.context import Context


@asynccontextmanager
async def running_app(
    settings: Settings, publishable_key: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Context]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://surecapture.test",
            headers={"x-publishable-api-key": publishable_key},
        ) as client:
            yield client, app.state.context
