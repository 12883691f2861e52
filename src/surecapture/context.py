"""The wired service: settings plus every collaborator, built once by `build_context`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from surecapture import metrics
from surecapture.analytics import Analytics
from surecapture.config import Settings
from surecapture.db.engine import build_engine, build_sessionmaker
from surecapture.events import EventBus
from surecapture.lib.payment_capture_queue import PaymentCaptureQueue
from surecapture.lib.redis import BreakerState, CircuitBreaker, redis_client
from surecapture.payments.registry import ProviderRegistry, provider_registry
from surecapture.services import catalog, modification_tokens
from surecapture.services.order_service import OrderService
from surecapture.services.scope import KeyScope
from surecapture.subscribers import register_subscribers

KEY_SCOPE_SECONDS = 10.0
_clock = time.monotonic  # the key scopes' clock (tests move it forward)


@dataclass
class Context:
    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    providers: ProviderRegistry
    bus: EventBus
    orders: OrderService
    redis: aioredis.Redis
    queue: PaymentCaptureQueue
    analytics: Analytics

    _modification_key: bytes | None = None
    # Every Store API call names a publishable key, and keys change rarely: a valid key's scope
    # is remembered for KEY_SCOPE_SECONDS (a key revoked in the database stops working that late).
    _key_scopes: dict[str, tuple[float, KeyScope]] = field(default_factory=dict)

    async def key_scope(self, token: str | None) -> KeyScope:
        now = _clock()
        cached = self._key_scopes.get(token) if token else None
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self.db() as session:
            scope = await catalog.key_scope(session, token)  # raises unless the key is valid
        assert token is not None
        self._key_scopes[token] = (now + KEY_SCOPE_SECONDS, scope)
        return scope

    async def modification_key(self) -> bytes:
        if self._modification_key is None:
            self._modification_key = await modification_tokens.signing_key(self.db)
        return self._modification_key

    @property
    def capture_delay(self) -> timedelta:
        return timedelta(seconds=self.settings.capture_delay_seconds)

    async def redis_status(self) -> str:
        """ "up" or "down", asked through the breaker: no network wait while it is open."""
        try:
            await self.queue.breaker.call(self.redis.ping)
        except Exception:  # unreachable, or answering with an error (e.g. a wrong password)
            metrics.REDIS_UP.set(0)
            return "down"
        metrics.REDIS_UP.set(1)
        return "up"

    async def close(self) -> None:
        await self.queue.breaker.aclose()
        await self.queue.close()  # closes the Redis client it was given
        await self.providers.aclose()
        self.analytics.close()
        await self.engine.dispose()


def _breaker_changed(state: BreakerState) -> None:
    metrics.REDIS_BREAKER.state(state.value)
    metrics.REDIS_UP.set(1 if state is BreakerState.CLOSED else 0)


def build_context(settings: Settings) -> Context:
    if settings.database_url is None:
        raise ValueError("DATABASE_URL must be resolved before the context is built")
    engine = build_engine(settings.database_url)
    db = build_sessionmaker(engine)
    bus = EventBus()
    client = redis_client(settings.redis)
    queue = PaymentCaptureQueue(
        client,
        prefix=settings.queue_prefix,
        attempts=settings.capture_attempts,
        backoff_ms=settings.capture_backoff_ms,
        breaker=CircuitBreaker(
            cooldown=settings.redis_breaker_cooldown_seconds,
            on_change=_breaker_changed,
            probe=client.ping,
        ),
    )
    context = Context(
        settings=settings,
        engine=engine,
        db=db,
        providers=provider_registry(settings),
        bus=bus,
        orders=OrderService(db),
        redis=client,
        queue=queue,
        analytics=Analytics(settings.posthog_api_key, settings.posthog_host),
    )
    register_subscribers(context)
    return context
