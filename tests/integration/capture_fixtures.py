"""An app with a grace window of a couple of seconds, and capture workers for it. Each app
has a queue prefix of its own, so a test's worker sees that test's jobs only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from surecapture.config import Settings
from surecapture.context import Context
from surecapture.db.models import Capture, Order, SystemPaymentOperation
from surecapture.errors import CaptureError
from surecapture.payments.base import Authorization, PaymentStatus
from surecapture.workers.payment_capture_worker import PaymentCaptureWorker
from tests.apps import running_app
from tests.conftest import queue_prefix
from tests.fakes.fake_stripe import FAKE_API_KEY, FakeStripe

WINDOW = 2


@pytest.fixture
async def short(
    settings: Settings, publishable_key: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Context]]:
    quick = settings.model_copy(
        update={
            "capture_window_seconds": WINDOW,
            "capture_buffer_seconds": 0,
            "capture_backoff_ms": 20,
        }
    )
    async with running_app(quick, publishable_key) as (client, context):
        yield client, context


@pytest.fixture
async def start_worker() -> AsyncIterator[Callable[[Context], Any]]:
    workers: list[PaymentCaptureWorker] = []

    async def start(context: Context, concurrency: int = 5) -> PaymentCaptureWorker:
        worker = PaymentCaptureWorker(context, concurrency=concurrency)
        await worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        await worker.close()


async def order_row(context: Context, order_id: str) -> Order:
    async with context.db() as session:
        order = await session.get(Order, order_id)
    assert order is not None
    return order


async def captures_of(context: Context, order_id: str) -> int:
    async with context.db() as session:
        return await session.scalar(select(func.count()).where(Capture.order_id == order_id)) or 0


async def ledger(context: Context, reference: str) -> list[tuple[str, int]]:
    """What the system provider really did for an authorization."""
    async with context.db() as session:
        rows = await session.execute(
            select(SystemPaymentOperation.kind, SystemPaymentOperation.amount)
            .where(SystemPaymentOperation.reference == reference)
            .order_by(SystemPaymentOperation.id)
        )
    return [(kind, amount) for kind, amount in rows.all()]


class ScriptedProvider:
    """Authorizes always; each capture takes the next scripted outcome ("ok" or an error)."""

    id = "pp_scripted_test"

    def __init__(self) -> None:
        self.script: list[str] = []
        self.captures: list[tuple[str, int, str]] = []
        self.canceled: list[str] = []

    async def authorize(self, session: AsyncSession, *, amount: int, **_: Any) -> Authorization:
        reference = f"scripted_{len(self.captures)}_{id(session)}_{amount}"
        return Authorization(reference=reference, data={})

    async def capture(
        self, session: AsyncSession, *, reference: str, amount: int, idempotency_key: str, **_: Any
    ) -> None:
        outcome = self.script.pop(0) if self.script else "ok"
        if outcome == "retryable":
            raise CaptureError("provider answered 500", retryable=True)
        if outcome == "declined":
            raise CaptureError("card_declined", retryable=False)
        self.captures.append((reference, amount, idempotency_key))

    async def cancel(self, session: AsyncSession, *, reference: str, **_: Any) -> None:
        self.canceled.append(reference)

    async def retrieve_status(self, session: AsyncSession, **_: Any) -> PaymentStatus:
        return PaymentStatus.UNKNOWN


@pytest.fixture
async def stripe_short(
    settings: Settings, publishable_key: str, fake_stripe: FakeStripe
) -> AsyncIterator[tuple[httpx.AsyncClient, Context, FakeStripe]]:
    """Short grace window, Stripe (the fake) configured with a client timeout of half a second."""
    async with _stripe_app(settings, publishable_key, fake_stripe) as stack:
        yield stack


@pytest.fixture
async def stripe_short_own_database(
    settings: Settings, publishable_key: str, fake_stripe: FakeStripe, fresh_database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Context, FakeStripe]]:
    """`stripe_short` over a database of its own, for tests that run the fallback job."""
    own = settings.model_copy(update={"database_url": fresh_database_url})
    async with _stripe_app(own, publishable_key, fake_stripe) as stack:
        yield stack


@asynccontextmanager
async def _stripe_app(
    settings: Settings, publishable_key: str, fake_stripe: FakeStripe
) -> AsyncIterator[tuple[httpx.AsyncClient, Context, FakeStripe]]:
    quick = settings.model_copy(
        update={
            "capture_window_seconds": WINDOW,
            "capture_buffer_seconds": 0,
            "capture_backoff_ms": 20,
            "stripe_api_key": FAKE_API_KEY,
            "stripe_api_base": fake_stripe.url,
            "stripe_timeout_seconds": 0.5,
            "queue_prefix": queue_prefix(),
        }
    )
    async with running_app(quick, publishable_key) as (client, context):
        yield client, context, fake_stripe
