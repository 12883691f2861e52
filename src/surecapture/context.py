"""The wired service: settings plus every collaborator, built once by `build_context`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from surecapture.config import Settings
from surecapture.db.engine import build_engine, build_sessionmaker
from surecapture.events import EventBus
from surecapture.payments.registry import ProviderRegistry, default_registry
from surecapture.services.order_service import OrderService
from surecapture.subscribers import register_subscribers


@dataclass
class Context:
    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    providers: ProviderRegistry
    bus: EventBus
    orders: OrderService

    @property
    def capture_delay(self) -> timedelta:
        return timedelta(seconds=self.settings.capture_delay_seconds)

    async def close(self) -> None:
        await self.engine.dispose()


def build_context(settings: Settings) -> Context:
    if settings.database_url is None:
        raise ValueError("DATABASE_URL must be resolved before the context is built")
    engine = build_engine(settings.database_url)
    db = build_sessionmaker(engine)
    bus = EventBus()
    context = Context(
        settings=settings,
        engine=engine,
        db=db,
        providers=default_registry(),
        bus=bus,
        orders=OrderService(db),
    )
    register_subscribers(context)
    return context
