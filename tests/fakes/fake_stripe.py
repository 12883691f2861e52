"""A local stand-in for the part of Stripe's API that `StripeProvider` uses, for the real `stripe`
SDK to talk to: PaymentIntents create / retrieve / capture / cancel, form-encoded requests, JSON
answers in Stripe's shapes, Stripe's error bodies and status codes, and `Idempotency-Key`.

It listens on 127.0.0.1 only and never contacts another host. It keeps a ledger of the captures
that really happened (`captures`, `captures_for`), and can be told to misbehave: decline, answer
429/5xx, hang before doing anything, or hang after applying a request (the "Stripe captured but
the answer was lost" case).

    with FakeStripe() as fake:
        provider = StripeProvider(FAKE_API_KEY, api_base=fake.url)

or use the `fake_stripe` / `stripe_provider` fixtures below. To offer them to every test, add to
tests/conftest.py:

    from tests.fakes.fake_stripe import fake_stripe_fixture, stripe_provider_fixture  # noqa: F401

(they register under the names `fake_stripe` and `stripe_provider`).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import pytest
import stripe

from surecapture.payments.stripe import StripeProvider

FAKE_API_KEY = "sk_test_fake"

# Stripe's test payment methods that the fake understands, as named in Stripe's testing docs.
DECLINING_PAYMENT_METHODS: dict[str, tuple[str, str | None, str]] = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", None, "Your card has expired."),
}
# Cards that need 3-D Secure: the intent stops in `requires_action`.
ACTION_PAYMENT_METHODS = frozenset(
    {"pm_card_authenticationRequired", "pm_card_threeDSecure2Required"}
)

Endpoint = Literal["create", "retrieve", "capture", "cancel"]
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    endpoint: Endpoint | None
    idempotency_key: str | None
    params: dict[str, str]


@dataclass(frozen=True)
class LedgerEntry:
    """One thing that happened to a card: an authorization, a capture or a void."""

    payment_intent: str
    kind: Literal["authorize", "capture", "cancel"]
    amount: int
    at: float  # time.time() when the fake applied it


@dataclass
class _Fault:
    kind: Literal["decline", "fail", "fail_saved", "hang", "hang_after_apply"]
    endpoint: Endpoint | None  # None: whichever request comes next
    remaining: int
    status: int = 500
    seconds: float = 0.0
    code: str = "card_declined"
    decline_code: str | None = "generic_decline"
    message: str = "Your card was declined."

    def matches(self, endpoint: Endpoint | None) -> bool:
        return self.remaining > 0 and (self.endpoint is None or self.endpoint == endpoint)


@dataclass
class _Response:
    status: int
    body: dict[str, Any]
    # Stripe saves the answer to an idempotent request only once the endpoint started executing;
    # requests that failed validation can be retried with the same key.
    store: bool = True


class FakeStripe:
    def __init__(self, *, api_key: str = FAKE_API_KEY, embed_intent_in_errors: bool = True) -> None:
        self.api_key = api_key
        # Stripe puts the intent into `payment_intent_unexpected_state` errors; False leaves it
        # out, for clients' fallback paths.
        self.embed_intent_in_errors = embed_intent_in_errors
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._intents: dict[str, dict[str, Any]] = {}
        self._captures: list[tuple[str, int]] = []
        self._ledger: list[LedgerEntry] = []
        self._hanging = 0  # requests applied and now holding back their answer
        self._requests: list[RecordedRequest] = []
        self._replays: list[str] = []
        self._cut_off = 0  # requests whose client went away before sending the whole body
        self._idempotent: dict[str, tuple[str, str, list[tuple[str, str]], _Response]] = {}
        self._faults: list[_Fault] = []
        self.errors: list[str] = []  # tracebacks of the fake's own crashes; must stay empty
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # stop() waits one poll interval
            name="fake-stripe",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes hanging handlers so their threads can be joined
        self._server.shutdown()
        self._server.server_close()  # joins the handler threads
        assert self._thread is not None
        self._thread.join()
        self._server = None

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeStripe is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- ledger and inspection -----------------------------------------------------------------

    @property
    def captures(self) -> list[tuple[str, int]]:
        """(payment_intent_id, amount) of every capture that happened, in order."""
        with self._lock:
            return list(self._captures)

    @property
    def ledger(self) -> list[LedgerEntry]:
        """Every authorization, capture and void that happened, in order, with its time."""
        with self._lock:
            return list(self._ledger)

    @property
    def hanging(self) -> int:
        """How many requests are applied and holding back their answer right now."""
        with self._lock:
            return self._hanging

    def captures_for(self, payment_intent_id: str) -> list[int]:
        with self._lock:
            return [amount for pi, amount in self._captures if pi == payment_intent_id]

    def payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        """A copy of the intent as Stripe would return it; KeyError if unknown."""
        with self._lock:
            return json.loads(json.dumps(self._intents[payment_intent_id]))  # type: ignore[no-any-return]

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request that reached the fake, misbehaving ones included."""
        with self._lock:
            return list(self._requests)

    @property
    def replays(self) -> list[str]:
        """Idempotency keys whose saved answer was replayed instead of executing again."""
        with self._lock:
            return list(self._replays)

    @property
    def cut_off(self) -> int:
        """Requests abandoned mid-body by their client: none of them was applied."""
        with self._lock:
            return self._cut_off

    def requests_to(self, endpoint: Endpoint) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint == endpoint]

    def add_payment_intent(
        self,
        *,
        amount: int,
        currency: str = "usd",
        status: str = "requires_capture",
        capture_method: str = "manual",
    ) -> str:
        """An intent made outside the provider, e.g. confirmed client-side by the storefront."""
        with self._lock:
            intent = self._new_intent(amount, currency, capture_method, "pm_card_visa")
            intent["status"] = status
            if status == "requires_capture":
                intent["amount_capturable"] = amount
                self._record(intent["id"], "authorize", amount)
            if status == "succeeded":
                intent["amount_received"] = amount
            return str(intent["id"])

    # -- misbehaviour --------------------------------------------------------------------------

    def decline_next(
        self,
        n: int = 1,
        *,
        code: str = "card_declined",
        decline_code: str | None = "generic_decline",
        message: str = "Your card was declined.",
    ) -> None:
        """The next `n` creates decline (402 card_error), whatever the payment method."""
        self._add(
            _Fault(
                "decline",
                "create",
                n,
                code=code,
                decline_code=decline_code,
                message=message,
            )
        )

    def fail_next(self, n: int = 1, *, status: int = 500, endpoint: Endpoint | None = None) -> None:
        """The next `n` requests (to `endpoint`, or any) answer `status` (500, 502, 503, 429, 409)
        without doing anything and without saving the answer under their idempotency key."""
        self._add(_Fault("fail", endpoint, n, status=status))

    def fail_saved_next(self, n: int = 1, *, endpoint: Endpoint | None = None) -> None:
        """The next `n` requests fail with a 500 after Stripe began executing them, without
        applying anything: as Stripe's API v1 does, that 500 is saved under the idempotency key
        and replayed to every retry with the same key (for 24 hours)."""
        self._add(_Fault("fail_saved", endpoint, n, status=500))

    def fail_next_captures(self, n: int = 1, *, status: int = 500) -> None:
        self.fail_next(n, status=status, endpoint="capture")

    def hang_next(
        self, n: int = 1, seconds: float = 30.0, *, endpoint: Endpoint | None = None
    ) -> None:
        """The next `n` requests hang for `seconds` (or until stop), then the connection is
        dropped. Nothing is applied: the request was lost on its way in."""
        self._add(_Fault("hang", endpoint, n, seconds=seconds))

    def hang_after_apply_next(
        self, n: int = 1, seconds: float = 30.0, *, endpoint: Endpoint | None = None
    ) -> None:
        """The next `n` requests are applied (and their answer saved under their idempotency
        key), then hang for `seconds` (or until stop) before answering: the answer was lost on
        its way out."""
        self._add(_Fault("hang_after_apply", endpoint, n, seconds=seconds))

    def _add(self, fault: _Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("n must be at least 1")
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, endpoint: Endpoint | None) -> _Fault | None:
        for fault in self._faults:
            if fault.kind != "decline" and fault.matches(endpoint):
                fault.remaining -= 1
                return fault
        return None

    def _take_decline(self) -> _Fault | None:
        for fault in self._faults:
            if fault.kind == "decline" and fault.matches("create"):
                fault.remaining -= 1
                return fault
        return None

    # -- request handling (called from the server's handler threads) ---------------------------

    def _handle(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        method = handler.command
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        if len(body) < length:
            # The client went away mid-request (a worker killed while sending). A real server
            # never sees such a request whole, so nothing of it is applied: applying the part
            # that arrived once captured the full amount and saved its key with no amount, and
            # the retry's real amount then met an idempotency error.
            with self._lock:
                self._cut_off += 1
            handler.close_connection = True
            return
        raw = body.decode()
        if method == "GET":
            raw = split.query
        pairs = parse_qsl(raw, keep_blank_values=True)
        params = dict(pairs)
        key = handler.headers.get("Idempotency-Key") if method == "POST" else None
        endpoint, intent_id = _route(method, split.path)

        with self._lock:
            self._requests.append(RecordedRequest(method, split.path, endpoint, key, params))
        if handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            handler.reply(_error(401, "invalid_request_error", None, "Invalid API Key provided"))
            return
        with self._lock:
            fault = self._take_fault(endpoint)
        if endpoint is None:
            handler.reply(
                _error(
                    404,
                    "invalid_request_error",
                    None,
                    f"Unrecognized request URL ({method}: {split.path}).",
                )
            )
            return

        if fault is not None and fault.kind == "fail":
            handler.reply(_failure(fault.status))
            return
        if fault is not None and fault.kind == "hang":
            self._stopping.wait(fault.seconds)
            handler.close_connection = True  # no answer at all
            return

        def execute() -> _Response:
            if fault is not None and fault.kind == "fail_saved":
                return _error(500, "api_error", None, "An unknown error occurred")
            return self._apply(endpoint, intent_id, params)

        with self._lock:
            response, replayed = self._apply_idempotently(method, split.path, key, pairs, execute)

        if fault is not None and fault.kind == "hang_after_apply":
            with self._lock:
                self._hanging += 1
            try:
                self._stopping.wait(fault.seconds)
            finally:
                with self._lock:
                    self._hanging -= 1
        handler.reply(response, idempotency_key=key, replayed=replayed)

    def _apply_idempotently(
        self,
        method: str,
        path: str,
        key: str | None,
        pairs: list[tuple[str, str]],
        apply: Callable[[], _Response],
    ) -> tuple[_Response, bool]:
        if key is None:
            return apply(), False
        stored = self._idempotent.get(key)
        if stored is not None:
            stored_method, stored_path, stored_pairs, stored_response = stored
            if (stored_method, stored_path, sorted(stored_pairs)) != (method, path, sorted(pairs)):
                return _error(
                    400,
                    "idempotency_error",
                    None,
                    "Keys for idempotent requests can only be used with the same parameters they "
                    f"were first used with. Try using a key other than '{key}' if you meant to "
                    "execute a different request.",
                    store=False,
                ), False
            self._replays.append(key)
            return stored_response, True
        response = apply()
        if response.store:
            self._idempotent[key] = (method, path, pairs, response)
        return response, False

    def _apply(
        self, endpoint: Endpoint, intent_id: str | None, params: dict[str, str]
    ) -> _Response:
        if endpoint == "create":
            return self._create(params)
        assert intent_id is not None
        intent = self._intents.get(intent_id)
        if intent is None:
            return _error(
                404,
                "invalid_request_error",
                "resource_missing",
                f"No such payment_intent: '{intent_id}'",
                param="intent",
            )
        if endpoint == "retrieve":
            return _Response(200, _copy(intent))
        if endpoint == "capture":
            return self._capture(intent, params)
        return self._cancel(intent, params)

    def _create(self, params: dict[str, str]) -> _Response:
        amount_text = params.get("amount", "")
        if not amount_text.isdigit() or int(amount_text) < 1:
            return _invalid_param("amount", "Invalid positive integer")
        currency = params.get("currency", "")
        if len(currency) != 3:
            return _invalid_param("currency", "Invalid currency")
        capture_method = params.get("capture_method", "automatic")
        payment_method = params.get("payment_method") or None
        confirm = params.get("confirm") == "true"
        if confirm and payment_method is None:
            return _error(
                400,
                "invalid_request_error",
                "parameter_missing",
                "You must provide a payment method to confirm this PaymentIntent.",
                param="payment_method",
                store=False,
            )
        amount = int(amount_text)
        intent = self._new_intent(amount, currency, capture_method, payment_method)
        if not confirm:
            intent["status"] = (
                "requires_confirmation" if payment_method else "requires_payment_method"
            )
            return _Response(200, _copy(intent))

        decline = self._take_decline()
        if decline is not None:
            declined: tuple[str, str | None, str] | None = (
                decline.code,
                decline.decline_code,
                decline.message,
            )
        else:
            declined = DECLINING_PAYMENT_METHODS.get(str(payment_method))
        if declined is not None:
            code, decline_code, message = declined
            charge = _new_id("ch")
            error = {
                "type": "card_error",
                "code": code,
                "decline_code": decline_code,
                "message": message,
                "charge": charge,
                "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
            }
            intent["status"] = "requires_payment_method"
            intent["latest_charge"] = charge
            intent["last_payment_error"] = {**error, "payment_method": {"id": payment_method}}
            return _Response(402, {"error": {**error, "payment_intent": _copy(intent)}})

        intent["latest_charge"] = _new_id("ch")
        if payment_method in ACTION_PAYMENT_METHODS:
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
        elif capture_method == "manual":
            intent["status"] = "requires_capture"
            intent["amount_capturable"] = amount
            self._record(intent["id"], "authorize", amount)
        else:
            intent["status"] = "succeeded"
            intent["amount_received"] = amount
            self._record(intent["id"], "authorize", amount)
            self._record(intent["id"], "capture", amount)
        return _Response(200, _copy(intent))

    def _capture(self, intent: dict[str, Any], params: dict[str, str]) -> _Response:
        if intent["status"] != "requires_capture":
            return self._unexpected_state(intent, "captured", ("requires_capture",))
        text = params.get("amount_to_capture")
        amount = int(text) if text is not None and text.isdigit() else None
        if text is not None and amount is None:
            return _invalid_param("amount_to_capture", "Invalid integer")
        amount = intent["amount_capturable"] if amount is None else amount
        if amount > intent["amount_capturable"]:
            return _error(
                400,
                "invalid_request_error",
                "amount_too_large",
                "The amount to capture is greater than the amount capturable.",
                param="amount_to_capture",
            )
        intent["status"] = "succeeded"
        intent["amount_received"] = amount
        intent["amount_capturable"] = 0
        self._record(intent["id"], "capture", amount)
        return _Response(200, _copy(intent))

    def _cancel(self, intent: dict[str, Any], params: dict[str, str]) -> _Response:
        if intent["status"] not in CANCELABLE:
            return self._unexpected_state(intent, "canceled", CANCELABLE)
        voided = intent["amount_capturable"]
        intent["status"] = "canceled"
        intent["canceled_at"] = int(time.time())
        intent["cancellation_reason"] = params.get("cancellation_reason")
        intent["amount_capturable"] = 0
        self._record(intent["id"], "cancel", voided)
        return _Response(200, _copy(intent))

    def _record(
        self, intent_id: str, kind: Literal["authorize", "capture", "cancel"], amount: int
    ) -> None:
        # Called with the lock held, from the request being applied.
        self._ledger.append(LedgerEntry(intent_id, kind, amount, time.time()))
        if kind == "capture":
            self._captures.append((intent_id, amount))

    def _unexpected_state(
        self, intent: dict[str, Any], verb: str, allowed: tuple[str, ...]
    ) -> _Response:
        return _error(
            400,
            "invalid_request_error",
            "payment_intent_unexpected_state",
            f"This PaymentIntent could not be {verb} because it has a status of "
            f"{intent['status']}. Only a PaymentIntent with one of the following statuses may be "
            f"{verb}: {', '.join(allowed)}.",
            payment_intent=_copy(intent) if self.embed_intent_in_errors else None,
        )

    def _new_intent(
        self, amount: int, currency: str, capture_method: str, payment_method: str | None
    ) -> dict[str, Any]:
        intent_id = _new_id("pi")
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": capture_method,
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
            "confirmation_method": "automatic",
            "created": int(time.time()),
            "currency": currency.lower(),
            "customer": None,
            "description": None,
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": {},
            "next_action": None,
            "payment_method": payment_method,
            "payment_method_types": ["card"],
            "status": "requires_payment_method",
        }
        self._intents[intent_id] = intent
        return intent


class _Server(ThreadingHTTPServer):
    # Non-daemon handler threads, so server_close() joins them and no thread outlives the fake.
    daemon_threads = False
    block_on_close = True

    def __init__(self, fake: FakeStripe) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so no handler thread waits on an idle keep-alive
    # connection and stop() can join them all.
    protocol_version = "HTTP/1.0"
    timeout = 10  # a client that stalls mid-request cannot pin a thread forever

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            self.server.fake._handle(self)
        except ConnectionError:
            self.close_connection = True  # the client went away (e.g. killed) before the answer
        except Exception:
            # A bug in the fake must fail the test, not pass for a network error.
            self.server.fake.errors.append(traceback.format_exc())
            self.close_connection = True
            self.reply(_error(500, "api_error", None, "FakeStripe crashed; see fake.errors"))

    def reply(
        self, response: _Response, *, idempotency_key: str | None = None, replayed: bool = False
    ) -> None:
        payload = json.dumps(response.body).encode()
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", _new_id("req"))
            if idempotency_key is not None:
                self.send_header("Idempotency-Key", idempotency_key)
            if replayed:
                self.send_header("Idempotent-Replayed", "true")
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            # The client gave up (timeout) before a late answer: that is the scenario, not a bug.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _route(method: str, path: str) -> tuple[Endpoint | None, str | None]:
    parts = path.strip("/").split("/")
    if parts[:2] != ["v1", "payment_intents"]:
        return None, None
    if len(parts) == 2 and method == "POST":
        return "create", None
    if len(parts) == 3 and method == "GET":
        return "retrieve", parts[2]
    if len(parts) == 4 and method == "POST" and parts[3] in ("capture", "cancel"):
        return ("capture" if parts[3] == "capture" else "cancel"), parts[2]
    return None, None


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _copy(intent: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(intent))  # type: ignore[no-any-return]


def _error(
    status: int,
    type_: str,
    code: str | None,
    message: str,
    *,
    param: str | None = None,
    store: bool = True,
    **extra: Any,
) -> _Response:
    error: dict[str, Any] = {
        "type": type_,
        "message": message,
        **{k: v for k, v in extra.items() if v is not None},
    }
    if code is not None:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param is not None:
        error["param"] = param
    return _Response(status, {"error": error}, store=store)


def _invalid_param(param: str, message: str) -> _Response:
    return _error(
        400, "invalid_request_error", "parameter_invalid_integer", message, param=param, store=False
    )


def _failure(status: int) -> _Response:
    if status == 429:
        return _error(
            429,
            "invalid_request_error",
            "rate_limit",
            "Too many requests hit the API too quickly.",
            store=False,
        )
    if status == 409:
        return _error(
            409,
            "invalid_request_error",
            "lock_timeout",
            "This object cannot be accessed right now because another API request or Stripe "
            "process is currently accessing it.",
            store=False,
        )
    return _error(
        status,
        "api_error",
        None,
        "Something went wrong on Stripe's end. (injected by FakeStripe)",
        store=False,
    )


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(name="fake_stripe")
def fake_stripe_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    # The SDK otherwise writes a telemetry id to ~/.config/stripe/ on its first request.
    monkeypatch.setattr(stripe, "enable_telemetry", False)
    with FakeStripe() as fake:
        yield fake
    assert not fake.errors, "FakeStripe crashed:\n" + "\n".join(fake.errors)


@pytest.fixture(name="stripe_provider")
async def stripe_provider_fixture(fake_stripe: FakeStripe) -> AsyncIterator[StripeProvider]:
    provider = StripeProvider(FAKE_API_KEY, api_base=fake_stripe.url, timeout_seconds=5.0)
    try:
        yield provider
    finally:
        await provider.aclose()
