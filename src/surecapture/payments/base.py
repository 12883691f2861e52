"""The payment provider interface: authorize at checkout, capture when the window ends, void on cancel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class PaymentStatus(StrEnum):
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    CANCELED = "canceled"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Authorization:
    reference: str  # the provider's id for this authorization, e.g. a PaymentIntent id
    data: dict[str, Any]


class PaymentProvider(Protocol):
    """One payment provider. `session` is the caller's open transaction, so a provider that keeps
    its ledger in Postgres (the `system` one) commits or rolls back together with the order."""

    id: str

    async def authorize(
        self,
        session: AsyncSession,
        *,
        amount: int,
        currency_code: str,
        idempotency_key: str,
        data: Mapping[str, Any],
    ) -> Authorization:
        """Reserve `amount` (minor units). `data` is the payment session's data from the
        storefront (e.g. a Stripe payment method). Raises `PaymentError` when declined."""
        ...

    async def capture(
        self,
        session: AsyncSession,
        *,
        reference: str,
        amount: int,
        currency_code: str,
        idempotency_key: str,
    ) -> None:
        """Capture `amount` of an authorization; the same idempotency key never captures twice.
        Raises `CaptureError` (with `retryable`) when the capture did not happen."""
        ...

    async def cancel(self, session: AsyncSession, *, reference: str, idempotency_key: str) -> None:
        """Void an authorization that was not captured."""
        ...

    async def retrieve_status(self, session: AsyncSession, *, reference: str) -> PaymentStatus: ...
