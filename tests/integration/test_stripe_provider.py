"""StripeProvider through the real `stripe` SDK against the local FakeStripe server."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import cast
from urllib.parse import urlsplit

import pytest
import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from surecapture.errors import CaptureError, Conflict, PaymentError, ServiceUnavailable
from surecapture.payments.base import PaymentStatus
from surecapture.payments.stripe import StripeProvider
from tests.fakes.fake_stripe import (
    FAKE_API_KEY,
    FakeStripe,
    fake_stripe_fixture,  # noqa: F401  (registers the `fake_stripe` fixture)
    stripe_provider_fixture,  # noqa: F401  (registers the `stripe_provider` fixture)
)
from tests.waiting import eventually

# Stripe keeps its own ledger; the provider never touches the caller's database session.
NO_SESSION = cast(AsyncSession, None)  # the Stripe provider keeps no rows of its own


@pytest.fixture
async def impatient_provider(fake_stripe: FakeStripe) -> AsyncIterator[StripeProvider]:
    provider = StripeProvider(FAKE_API_KEY, api_base=fake_stripe.url, timeout_seconds=0.5)
    try:
        yield provider
    finally:
        await provider.aclose()


async def authorize(provider: StripeProvider, amount: int = 2000, key: str = "authorize-ps_1", **data: str) -> str:  # fmt: skip
    authorization = await provider.authorize(
        NO_SESSION,
        amount=amount,
        currency_code="usd",
        idempotency_key=key,
        data={"payment_method": "pm_card_visa", **data},
    )
    return authorization.reference


async def capture(provider: StripeProvider, reference: str, amount: int = 2000, key: str = "capture-order_1") -> None:  # fmt: skip
    await provider.capture(
        NO_SESSION, reference=reference, amount=amount, currency_code="usd", idempotency_key=key
    )


# -- authorize -----------------------------------------------------------------------------------


async def test_authorize_creates_a_manual_capture_intent(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    authorization = await stripe_provider.authorize(
        NO_SESSION,
        amount=2000,
        currency_code="EUR",
        idempotency_key="authorize-ps_1",
        data={"payment_method": "pm_card_visa"},
    )

    assert authorization.reference.startswith("pi_")
    assert authorization.data == {"payment_intent_id": authorization.reference}
    intent = fake_stripe.payment_intent(authorization.reference)
    assert intent["status"] == "requires_capture"
    assert (intent["amount"], intent["currency"], intent["amount_capturable"]) == (
        2000,
        "eur",
        2000,
    )
    [request] = fake_stripe.requests_to("create")
    assert request.idempotency_key == "authorize-ps_1"
    assert request.params["capture_method"] == "manual"
    assert request.params["confirm"] == "true"
    assert request.params["payment_method"] == "pm_card_visa"
    assert request.params["automatic_payment_methods[allow_redirects]"] == "never"
    assert fake_stripe.captures == []


async def test_authorize_replayed_with_the_same_key_creates_one_intent(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    first = await authorize(stripe_provider)
    second = await authorize(stripe_provider)

    assert first == second
    assert len(fake_stripe.requests_to("create")) == 2
    assert fake_stripe.replays == ["authorize-ps_1"]


@pytest.mark.parametrize(
    ("setup", "payment_method", "reason"),
    [
        ("decline_next", "pm_card_visa", "Your card was declined. (generic_decline)"),
        (None, "pm_card_chargeDeclined", "Your card was declined. (generic_decline)"),
        (None, "pm_card_chargeDeclinedInsufficientFunds", "insufficient funds"),
    ],
)
async def test_a_declined_card_fails_authorization(
    stripe_provider: StripeProvider,
    fake_stripe: FakeStripe,
    setup: str | None,
    payment_method: str,
    reason: str,
) -> None:
    if setup == "decline_next":
        fake_stripe.decline_next()

    with pytest.raises(PaymentError) as caught:
        await authorize(stripe_provider, payment_method=payment_method)

    assert caught.value.message.startswith("Payment authorization failed: ")
    assert reason in caught.value.message


async def test_an_intent_that_needs_authentication_fails_authorization(
    stripe_provider: StripeProvider,
) -> None:
    with pytest.raises(PaymentError, match="requires_action"):
        await authorize(stripe_provider, payment_method="pm_card_authenticationRequired")


@pytest.mark.parametrize("status", [500, 429])
async def test_authorize_reports_an_unreachable_provider_as_a_payment_error(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe, status: int
) -> None:
    fake_stripe.fail_next(status=status, endpoint="create")

    with pytest.raises(PaymentError, match="could not be reached"):
        await authorize(stripe_provider)


async def test_authorize_timeout_is_a_payment_error(
    impatient_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    fake_stripe.hang_next(endpoint="create")

    with pytest.raises(PaymentError, match="could not be reached"):
        await authorize(impatient_provider)


async def test_authorize_uses_an_intent_confirmed_by_the_storefront(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    confirmed = fake_stripe.add_payment_intent(amount=2000, currency="usd")

    reference = await authorize(stripe_provider, payment_intent_id=confirmed)

    assert reference == confirmed
    assert fake_stripe.requests_to("create") == []


@pytest.mark.parametrize(
    ("amount", "currency", "status", "match"),
    [
        (1000, "usd", "requires_capture", "is for 1000 usd, the cart total is 2000 usd"),
        (2000, "eur", "requires_capture", "is for 2000 eur"),
        (2000, "usd", "requires_payment_method", "requires_payment_method"),
    ],
)
async def test_authorize_refuses_a_storefront_intent_that_does_not_fit(
    stripe_provider: StripeProvider,
    fake_stripe: FakeStripe,
    amount: int,
    currency: str,
    status: str,
    match: str,
) -> None:
    confirmed = fake_stripe.add_payment_intent(amount=amount, currency=currency, status=status)

    with pytest.raises(PaymentError, match=match):
        await authorize(stripe_provider, payment_intent_id=confirmed)


async def test_authorize_with_an_unknown_storefront_intent_fails(
    stripe_provider: StripeProvider,
) -> None:
    with pytest.raises(PaymentError, match="No such payment_intent"):
        await authorize(stripe_provider, payment_intent_id="pi_missing")


# -- capture -------------------------------------------------------------------------------------


async def test_capture_captures_the_exact_amount_once(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    reference = await authorize(stripe_provider, amount=2000)

    await capture(stripe_provider, reference, amount=1850)

    assert fake_stripe.captures == [(reference, 1850)]
    [request] = fake_stripe.requests_to("capture")
    assert request.idempotency_key == "capture-order_1"
    assert request.params == {"amount_to_capture": "1850"}
    assert fake_stripe.payment_intent(reference)["status"] == "succeeded"


async def test_capture_with_the_same_key_twice_captures_once(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    reference = await authorize(stripe_provider)

    await capture(stripe_provider, reference)
    await capture(stripe_provider, reference)

    assert len(fake_stripe.requests_to("capture")) == 2
    assert fake_stripe.replays == ["capture-order_1"]
    assert fake_stripe.captures_for(reference) == [2000]


async def test_capture_of_an_already_captured_intent_with_another_key_succeeds_without_charging(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    reference = await authorize(stripe_provider)
    await capture(stripe_provider, reference, key="capture-order_1")

    await capture(stripe_provider, reference, key="capture-order_1-manual")

    assert fake_stripe.replays == []
    assert fake_stripe.captures_for(reference) == [2000]


@pytest.mark.parametrize("embedded", [True, False])
async def test_already_captured_or_canceled_is_recognised_with_or_without_the_embedded_intent(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe, embedded: bool
) -> None:
    fake_stripe.embed_intent_in_errors = embedded
    captured = await authorize(stripe_provider, key="authorize-ps_1")
    canceled = await authorize(stripe_provider, key="authorize-ps_2")
    await capture(stripe_provider, captured, key="capture-order_1")
    await stripe_provider.cancel(NO_SESSION, reference=canceled, idempotency_key="cancel-order_2")
    retrievals = len(fake_stripe.requests_to("retrieve"))

    await capture(stripe_provider, captured, key="capture-order_1-again")
    await stripe_provider.cancel(NO_SESSION, reference=canceled, idempotency_key="cancel-again")
    with pytest.raises(Conflict):
        await stripe_provider.cancel(NO_SESSION, reference=captured, idempotency_key="cancel-1")

    assert len(fake_stripe.requests_to("retrieve")) - retrievals == (0 if embedded else 3)
    assert fake_stripe.captures == [(captured, 2000)]


@pytest.mark.parametrize("embedded", [True, False])
async def test_an_intent_captured_for_less_elsewhere_is_not_taken_as_the_orders_capture(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe, embedded: bool
) -> None:
    # Someone captured part of it in the Dashboard: recording the order's total as captured
    # would claim money never collected.
    fake_stripe.embed_intent_in_errors = embedded
    reference = await authorize(stripe_provider)
    await capture(stripe_provider, reference, amount=1500, key="dashboard-capture")

    with pytest.raises(CaptureError) as caught:
        await capture(stripe_provider, reference, amount=2000)

    assert caught.value.retryable is False
    assert caught.value.message == (
        f"Capture of {reference}: Stripe already captured 1500, not the order's total 2000 "
        "(a capture made outside surecapture?)"
    )
    assert fake_stripe.captures_for(reference) == [1500]


async def test_unknown_state_after_a_refused_capture_is_retryable(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    fake_stripe.embed_intent_in_errors = False
    reference = await authorize(stripe_provider)
    await capture(stripe_provider, reference, key="capture-order_1")
    fake_stripe.fail_next(status=503, endpoint="retrieve")

    with pytest.raises(CaptureError, match="status is unknown") as caught:
        await capture(stripe_provider, reference, key="capture-order_1-again")

    assert caught.value.retryable is True
    assert fake_stripe.captures == [(reference, 2000)]


@pytest.mark.parametrize("status", [500, 502, 503, 429, 409])
async def test_a_transient_failure_is_retryable_and_the_retry_captures_once(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe, status: int
) -> None:
    reference = await authorize(stripe_provider)
    fake_stripe.fail_next_captures(1, status=status)

    with pytest.raises(CaptureError) as caught:
        await capture(stripe_provider, reference)
    assert caught.value.retryable is True
    assert fake_stripe.captures == []

    await capture(stripe_provider, reference)
    assert fake_stripe.captures == [(reference, 2000)]


async def test_lost_answer_after_stripe_captured_is_retryable_and_never_charges_twice(
    impatient_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    reference = await authorize(impatient_provider)
    fake_stripe.hang_after_apply_next(endpoint="capture")

    with pytest.raises(CaptureError) as caught:
        await capture(impatient_provider, reference)
    assert caught.value.retryable is True
    # Stripe did capture; only the answer was lost.
    assert fake_stripe.captures_for(reference) == [2000]

    await capture(impatient_provider, reference)

    assert fake_stripe.captures_for(reference) == [2000]
    assert len(fake_stripe.requests_to("capture")) == 2
    assert fake_stripe.replays == ["capture-order_1"]


async def test_a_capture_cut_off_mid_request_is_not_applied_and_its_retry_captures(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    # A worker killed between sending a request's headers and its body: Stripe never sees it.
    reference = await authorize(stripe_provider)
    host, port = urlsplit(fake_stripe.url).hostname, urlsplit(fake_stripe.url).port
    with socket.create_connection((host, port)) as sock:
        sock.sendall(
            f"POST /v1/payment_intents/{reference}/capture HTTP/1.1\r\n"
            f"Host: {host}\r\nAuthorization: Bearer {FAKE_API_KEY}\r\n"
            "Idempotency-Key: capture-order_1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 22\r\n\r\n"
            "amount_to_".encode()
        )

    async def abandoned() -> bool:
        return fake_stripe.cut_off == 1

    await eventually(abandoned)

    await capture(stripe_provider, reference, amount=1500)

    assert fake_stripe.captures_for(reference) == [1500]
    assert fake_stripe.replays == []


async def test_lost_request_is_retryable_and_the_retry_captures(
    impatient_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    reference = await authorize(impatient_provider)
    fake_stripe.hang_next(endpoint="capture")

    with pytest.raises(CaptureError) as caught:
        await capture(impatient_provider, reference)
    assert caught.value.retryable is True
    assert fake_stripe.captures == []

    await capture(impatient_provider, reference)
    assert fake_stripe.captures_for(reference) == [2000]


async def test_unreachable_stripe_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stripe, "enable_telemetry", False)  # as the fake_stripe fixture does
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on `port` any more: connection refused.
    provider = StripeProvider(FAKE_API_KEY, api_base=f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(CaptureError) as caught:
            await capture(provider, "pi_anything")
    finally:
        await provider.aclose()
    assert caught.value.retryable is True


async def test_capture_of_a_canceled_intent_is_not_retryable(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    reference = await authorize(stripe_provider)
    await stripe_provider.cancel(NO_SESSION, reference=reference, idempotency_key="cancel-order_1")

    with pytest.raises(CaptureError, match="status of canceled") as caught:
        await capture(stripe_provider, reference)

    assert caught.value.retryable is False
    assert fake_stripe.captures == []


@pytest.mark.parametrize(
    ("reference_of", "amount"),
    [("authorized", 2001), ("missing", 2000)],
)
async def test_capture_refused_by_stripe_is_not_retryable(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe, reference_of: str, amount: int
) -> None:
    reference = await authorize(stripe_provider) if reference_of == "authorized" else "pi_missing"

    with pytest.raises(CaptureError) as caught:
        await capture(stripe_provider, reference, amount=amount)

    assert caught.value.retryable is False
    assert fake_stripe.captures == []


async def test_capture_with_a_reused_key_and_another_amount_is_not_retryable(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    first = await authorize(stripe_provider, key="authorize-ps_1")
    second = await authorize(stripe_provider, key="authorize-ps_2")
    await capture(stripe_provider, first, amount=2000, key="capture-order_1")

    with pytest.raises(CaptureError) as caught:
        await capture(stripe_provider, second, amount=2000, key="capture-order_1")

    assert caught.value.retryable is False
    assert fake_stripe.captures == [(first, 2000)]


# -- cancel and status ---------------------------------------------------------------------------


async def test_cancel_voids_the_authorization_and_is_idempotent(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    reference = await authorize(stripe_provider)

    await stripe_provider.cancel(NO_SESSION, reference=reference, idempotency_key="cancel-order_1")
    assert fake_stripe.payment_intent(reference)["status"] == "canceled"
    await stripe_provider.cancel(NO_SESSION, reference=reference, idempotency_key="cancel-order_1")
    await stripe_provider.cancel(NO_SESSION, reference=reference, idempotency_key="cancel-again")

    assert fake_stripe.payment_intent(reference)["status"] == "canceled"
    assert fake_stripe.captures == []


async def test_cancel_after_capture_is_a_conflict(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    reference = await authorize(stripe_provider)
    await capture(stripe_provider, reference)

    with pytest.raises(Conflict, match="succeeded"):
        await stripe_provider.cancel(
            NO_SESSION, reference=reference, idempotency_key="cancel-order_1"
        )

    assert fake_stripe.payment_intent(reference)["status"] == "succeeded"


async def test_cancel_while_stripe_is_down_is_service_unavailable(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    reference = await authorize(stripe_provider)
    fake_stripe.fail_next(status=503, endpoint="cancel")

    with pytest.raises(ServiceUnavailable):
        await stripe_provider.cancel(
            NO_SESSION, reference=reference, idempotency_key="cancel-order_1"
        )

    assert fake_stripe.payment_intent(reference)["status"] == "requires_capture"


async def test_retrieve_status_follows_the_intent(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    async def status(reference: str) -> PaymentStatus:
        return await stripe_provider.retrieve_status(NO_SESSION, reference=reference)

    captured = await authorize(stripe_provider, key="authorize-ps_1")
    assert await status(captured) is PaymentStatus.AUTHORIZED
    await capture(stripe_provider, captured)
    assert await status(captured) is PaymentStatus.CAPTURED

    canceled = await authorize(stripe_provider, key="authorize-ps_2")
    await stripe_provider.cancel(NO_SESSION, reference=canceled, idempotency_key="cancel-order_2")
    assert await status(canceled) is PaymentStatus.CANCELED

    pending = fake_stripe.add_payment_intent(amount=2000, status="requires_action")
    assert await status(pending) is PaymentStatus.UNKNOWN
    assert await status("pi_missing") is PaymentStatus.UNKNOWN


async def test_retrieve_status_while_stripe_is_down_is_service_unavailable(
    stripe_provider: StripeProvider, fake_stripe: FakeStripe
) -> None:
    reference = await authorize(stripe_provider)
    fake_stripe.fail_next(status=500, endpoint="retrieve")

    with pytest.raises(ServiceUnavailable):
        await stripe_provider.retrieve_status(NO_SESSION, reference=reference)


async def test_a_wrong_api_key_fails_without_leaking_stripe_types(fake_stripe: FakeStripe) -> None:
    provider = StripeProvider("sk_test_wrong", api_base=fake_stripe.url)
    try:
        with pytest.raises(CaptureError) as caught:
            await capture(provider, "pi_anything")
    finally:
        await provider.aclose()
    assert caught.value.retryable is False
    assert "Invalid API Key" in caught.value.message
