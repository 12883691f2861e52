"""`pp_system_default`: the built-in provider for local runs. It always authorizes, and keeps its
authorizations, captures and voids in `system_payment_operations`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from surecapture.db.models import SystemPaymentOperation
from surecapture.errors import CaptureError, Conflict
from surecapture.ids import new_id
from surecapture.payments.base import Authorization, PaymentStatus


class SystemProvider:
    id = "pp_system_default"

    async def authorize(
        self,
        session: AsyncSession,
        *,
        amount: int,
        currency_code: str,
        idempotency_key: str,
        data: Mapping[str, Any],
    ) -> Authorization:
        reference = new_id("sysauth")
        await self._record(session, reference, "authorize", amount, currency_code, idempotency_key)
        return Authorization(reference=reference, data={"reference": reference})

    async def capture(
        self,
        session: AsyncSession,
        *,
        reference: str,
        amount: int,
        currency_code: str,
        idempotency_key: str,
    ) -> None:
        status = await self.retrieve_status(session, reference=reference)
        if status is PaymentStatus.CANCELED:
            raise CaptureError(f"Authorization {reference} was canceled", retryable=False)
        if status is PaymentStatus.CAPTURED:
            return  # as Stripe answers a retry under a new key: captured once, done
        await self._record(session, reference, "capture", amount, currency_code, idempotency_key)

    async def cancel(self, session: AsyncSession, *, reference: str, idempotency_key: str) -> None:
        status = await self.retrieve_status(session, reference=reference)
        if status is PaymentStatus.CAPTURED:
            raise Conflict(f"Authorization {reference} was already captured")
        await self._record(session, reference, "cancel", 0, "xxx", idempotency_key)

    async def retrieve_status(self, session: AsyncSession, *, reference: str) -> PaymentStatus:
        kinds = set(
            (
                await session.scalars(
                    select(SystemPaymentOperation.kind).where(
                        SystemPaymentOperation.reference == reference
                    )
                )
            ).all()
        )
        if "capture" in kinds:
            return PaymentStatus.CAPTURED
        if "cancel" in kinds:
            return PaymentStatus.CANCELED
        if "authorize" in kinds:
            return PaymentStatus.AUTHORIZED
        return PaymentStatus.UNKNOWN

    @staticmethod
    async def _record(
        session: AsyncSession,
        reference: str,
        kind: str,
        amount: int,
        currency_code: str,
        idempotency_key: str,
    ) -> None:
        # A replayed idempotency key is a no-op, as with a real provider.
        await session.execute(
            insert(SystemPaymentOperation)
            .values(
                reference=reference,
                kind=kind,
                amount=amount,
                currency_code=currency_code,
                idempotency_key=idempotency_key,
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
        )
