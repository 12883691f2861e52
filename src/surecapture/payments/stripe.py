"""`pp_stripe_stripe`: card payments as manual-capture PaymentIntents through the `stripe` SDK.

Authorize creates (or, when the storefront confirmed client-side, retrieves) a PaymentIntent in
`requires_capture`; capture and cancel act on that PaymentIntent. Stripe keeps the ledger, so the
caller's database session is not used. Every `stripe` exception is translated here: callers see
`PaymentError`, `CaptureError(retryable=...)`, `Conflict` or `ServiceUnavailable`, never a
`stripe` type.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from surecapture.errors import (
    CaptureError,
    Conflict,
    PaymentError,
    ServiceUnavailable,
    SurecaptureError,
)
from surecapture.payments.base import Authorization, PaymentStatus

log = logging.getLogger(__name__)

_STATUSES: Mapping[str, PaymentStatus] = {
    "requires_capture": PaymentStatus.AUTHORIZED,
    "succeeded": PaymentStatus.CAPTURED,
    "canceled": PaymentStatus.CANCELED,
}


class _AsyncHTTPXClient(stripe.HTTPClient):
    """The SDK's own `stripe.HTTPXClient` hands the form body to httpx as `data=<str>`, which
    httpx deprecates with a DeprecationWarning on every POST; where warnings are errors (our test
    suite) the SDK reports that warning as an `APIConnectionError`. This client sends the body as
    `content=` and owns its `httpx.AsyncClient`, so `StripeProvider.aclose` can close it."""

    name = "httpx"

    def __init__(self, *, timeout_seconds: float) -> None:
        super().__init__()
        # The SDK pins TLS to the CA bundle it ships; keep that.
        self._client = httpx.AsyncClient(
            timeout=timeout_seconds,
            verify=ssl.create_default_context(cafile=stripe.ca_bundle_path),
        )

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            response = await self._client.request(method, url, headers=headers, content=post_data)
        except httpx.HTTPError as exc:
            # Timeouts included: the request may have reached Stripe, so only a retry with the
            # same idempotency key is safe, which is what the SDK and our callers do. (The SDK
            # leaves this constructor unannotated.)
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                f"Could not reach Stripe: {type(exc).__name__}: {exc}", should_retry=True
            ) from exc
        return response.content, response.status_code, response.headers

    async def sleep_async(self, secs: float) -> None:
        await asyncio.sleep(secs)

    async def close_async(self) -> None:
        await self._client.aclose()


class StripeProvider:
    id = "pp_stripe_stripe"

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        timeout_seconds: float = 10.0,
        max_network_retries: int = 0,
    ) -> None:
        if not api_key:
            raise ValueError("Stripe API key is empty")
        # The SDK's telemetry writes an id under ~/.config/stripe and reports request timings;
        # a server should do neither behind its operators' backs.
        stripe.enable_telemetry = False
        self._http = _AsyncHTTPXClient(timeout_seconds=timeout_seconds)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=self._http,
        )

    async def aclose(self) -> None:
        """Close the HTTP connection pool; call once at shutdown."""
        await self._http.close_async()

    async def authorize(
        self,
        session: AsyncSession,
        *,
        amount: int,
        currency_code: str,
        idempotency_key: str,
        data: Mapping[str, Any],
    ) -> Authorization:
        currency = currency_code.lower()
        confirmed_id = data.get("payment_intent_id")
        try:
            if confirmed_id:
                intent = await self._client.v1.payment_intents.retrieve_async(str(confirmed_id))
            else:
                params: stripe.params.PaymentIntentCreateParams = {
                    "amount": amount,
                    "currency": currency,
                    "capture_method": "manual",
                    "confirm": True,
                    # Redirect-based methods would leave the intent in `requires_action`, which
                    # a server-side checkout cannot complete.
                    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                }
                payment_method = data.get("payment_method")
                if payment_method:
                    params["payment_method"] = str(payment_method)
                intent = await self._client.v1.payment_intents.create_async(
                    params, {"idempotency_key": idempotency_key}
                )
        except stripe.StripeError as exc:
            log.warning("stripe authorize failed (%s): %r", idempotency_key, exc)
            if _is_transient(exc):
                raise PaymentError(
                    "Payment authorization failed: the payment provider could not be reached, "
                    "please try again"
                ) from exc
            raise PaymentError(f"Payment authorization failed: {_describe(exc)}") from exc

        if confirmed_id and (intent.amount != amount or intent.currency != currency):
            # A client-confirmed intent is only as trustworthy as the storefront that sent its
            # id: it must reserve exactly what the cart costs.
            raise PaymentError(
                f"Payment authorization failed: PaymentIntent {intent.id} is for "
                f"{intent.amount} {intent.currency}, the cart total is {amount} {currency}"
            )
        if intent.status != "requires_capture":
            reason = intent.last_payment_error.message if intent.last_payment_error else None
            raise PaymentError(
                f"Payment authorization failed: {reason or f'the payment is {intent.status}'}"
            )
        return Authorization(reference=intent.id, data={"payment_intent_id": intent.id})

    async def capture(
        self,
        session: AsyncSession,
        *,
        reference: str,
        amount: int,
        currency_code: str,
        idempotency_key: str,
    ) -> None:
        try:
            await self._client.v1.payment_intents.capture_async(
                reference, {"amount_to_capture": amount}, {"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as exc:
            if isinstance(exc, stripe.InvalidRequestError):
                intent = await self._intent_behind(exc, reference, _retryable_capture_error)
                if intent is not None and intent.status == "succeeded":
                    # An earlier attempt (another key, or a response that was lost) captured it;
                    # but only what Stripe received may be recorded as captured.
                    if intent.amount_received != amount:
                        raise CaptureError(
                            f"Capture of {reference}: Stripe already captured "
                            f"{intent.amount_received}, not the order's total {amount} (a "
                            "capture made outside surecapture?)",
                            retryable=False,
                        ) from exc
                    log.info("stripe capture %s: PaymentIntent already succeeded", reference)
                    return
            retryable = _is_transient(exc)
            log.warning("stripe capture %s failed (retryable=%s): %r", reference, retryable, exc)
            raise CaptureError(
                f"Capture of {reference} failed: {_describe(exc)}", retryable=retryable
            ) from exc

    async def cancel(self, session: AsyncSession, *, reference: str, idempotency_key: str) -> None:
        try:
            await self._client.v1.payment_intents.cancel_async(
                reference, None, {"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as exc:
            if isinstance(exc, stripe.InvalidRequestError):
                intent = await self._intent_behind(exc, reference, ServiceUnavailable)
                status = intent.status if intent is not None else None
                if status == "canceled":
                    return
                if status is not None:
                    raise Conflict(f"Payment {reference} cannot be voided: it is {status}") from exc
            if _is_transient(exc):
                raise ServiceUnavailable(
                    f"Payment {reference} was not voided: the payment provider could not be reached"
                ) from exc
            raise PaymentError(f"Voiding payment {reference} failed: {_describe(exc)}") from exc

    async def retrieve_status(self, session: AsyncSession, *, reference: str) -> PaymentStatus:
        try:
            intent = await self._client.v1.payment_intents.retrieve_async(reference)
        except stripe.StripeError as exc:
            if isinstance(exc, stripe.InvalidRequestError) and exc.http_status == 404:
                return PaymentStatus.UNKNOWN
            if _is_transient(exc):
                raise ServiceUnavailable(
                    f"Status of payment {reference} unknown: the payment provider could not be "
                    "reached"
                ) from exc
            raise SurecaptureError(
                f"Status of payment {reference} unknown: {_describe(exc)}"
            ) from exc
        return _STATUSES.get(intent.status, PaymentStatus.UNKNOWN)

    async def _intent_behind(
        self,
        exc: stripe.InvalidRequestError,
        reference: str,
        unknown: Callable[[str], SurecaptureError],
    ) -> stripe.PaymentIntent | None:
        """The PaymentIntent when Stripe refused an action because of its state, else None.

        Stripe embeds the intent in `payment_intent_unexpected_state` errors; it is fetched only
        when missing. If that fetch fails, whether the action already happened is unknown, so
        `unknown` builds an error the caller may retry rather than a permanent one."""
        if exc.code != "payment_intent_unexpected_state":
            return None
        embedded = exc.error.payment_intent if exc.error is not None else None
        if embedded is not None:
            return embedded
        try:
            return await self._client.v1.payment_intents.retrieve_async(reference)
        except stripe.StripeError as lookup_exc:
            raise unknown(
                f"Payment {reference} is in an unexpected state, and its status is unknown"
            ) from lookup_exc


def _retryable_capture_error(message: str) -> CaptureError:
    return CaptureError(message, retryable=True)


def _is_transient(exc: stripe.StripeError) -> bool:
    """Whether the same request may succeed later: network failures and timeouts, rate limits,
    Stripe's 5xx and 409 lock conflicts. Declines, invalid requests, idempotency-key mismatches
    and bad credentials will fail the same way again."""
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return True
    if isinstance(exc, stripe.APIError):
        return exc.http_status is None or exc.http_status >= 500 or exc.http_status == 409
    return False


def _describe(exc: stripe.StripeError) -> str:
    message = exc.user_message or type(exc).__name__
    error = exc.error
    code = (error.decline_code or error.code) if error is not None else exc.code
    return f"{message} ({code})" if code else message
