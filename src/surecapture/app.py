"""Builds the FastAPI application around a wired `Context`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from surecapture.api import admin, health, store
from surecapture.api.errors import install_error_handlers
from surecapture.config import Settings
from surecapture.context import build_context
from surecapture.jobs.scheduler import FallbackScheduler
from surecapture.workers.payment_capture_worker import PaymentCaptureWorker


def create_app(
    settings: Settings, *, with_worker: bool = False, with_scheduler: bool = False
) -> FastAPI:
    """The API; `serve` also runs the capture worker and the fallback scheduler in-process."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = build_context(settings)
        app.state.context = context
        worker = PaymentCaptureWorker(context) if with_worker else None
        scheduler = FallbackScheduler(context) if with_scheduler else None
        try:
            if worker:
                await worker.start()
            if scheduler:
                scheduler.start()
            yield
        finally:
            try:
                if scheduler:
                    await scheduler.close()
                if worker:
                    await worker.close()
            finally:
                await context.close()

    app = FastAPI(
        title="surecapture",
        version="0.1.0",
        description="Medusa-v2-compatible Store API whose captures survive Redis outages.",
        lifespan=lifespan,
    )
    # CORS runs before the publishable-key check, so preflights pass without a key.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.store_cors,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(store.router)
    app.include_router(admin.router)
    return app
