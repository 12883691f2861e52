"""surecapture's error tree.

    SurecaptureError            any failure the API may report; carries Medusa's `type`
    ├── InvalidData             400 invalid_data: the request is malformed or breaks a rule
    ├── NotAllowed              400 not_allowed: e.g. publishable key missing or unknown
    │   └── InsufficientInventory   400 not_allowed / insufficient_inventory
    ├── Unauthorized            401 unauthorized: admin token missing or wrong
    ├── NotFound                404 not_found
    ├── Conflict                409 conflict: another request holds the same resource
    ├── PaymentError            422 payment_authorization_error: the provider declined
    ├── CaptureError            a capture did not happen; `retryable` says whether to try again
    ├── RedisUnavailable        Redis cannot be reached (refused, timeout, DNS, reset, closed)
    ├── CaptureJobActive        409: the capture job is running, so the order cannot change now
    └── ServiceUnavailable      503: a dependency the request needs (Postgres) is down

Each maps to the `{type, message, code?}` body of the Store API contract in `api/errors.py`.
"""

from __future__ import annotations


class SurecaptureError(Exception):
    type: str = "unknown_error"
    status: int = 500
    code: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidData(SurecaptureError):
    type = "invalid_data"
    status = 400


class NotAllowed(SurecaptureError):
    type = "not_allowed"
    status = 400


class InsufficientInventory(NotAllowed):
    code = "insufficient_inventory"

    def __init__(self) -> None:
        super().__init__("Some variant does not have the required inventory")


class Unauthorized(SurecaptureError):
    type = "unauthorized"
    status = 401


class NotFound(SurecaptureError):
    type = "not_found"
    status = 404


class Conflict(SurecaptureError):
    type = "conflict"
    status = 409
    code = "invalid_state_error"


class PaymentError(SurecaptureError):
    type = "payment_authorization_error"
    status = 422


class CaptureError(SurecaptureError):
    """The provider did not capture. Retryable: timeouts, 5xx, rate limits. Not: declines,
    expired or voided authorizations."""

    type = "capture_error"
    status = 502

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class RedisUnavailable(SurecaptureError):
    """Redis could not be reached. `kind` is refused, timeout, dns, reset or closed; `errno` the
    OS error name underneath (ECONNREFUSED, ETIMEDOUT, ENOTFOUND…) when there is one."""

    type = "redis_unavailable"
    status = 503

    def __init__(self, message: str, *, kind: str, errno: str | None) -> None:
        super().__init__(message)
        self.kind = kind
        self.errno = errno


class InvalidState(SurecaptureError):
    """The order's state does not allow the action; unlike `Conflict`, whose message the API
    replaces with Medusa's fixed one, the message says why."""

    type = "conflict"
    status = 409
    code = "invalid_state_error"


class CaptureJobActive(InvalidState):
    pass


class ServiceUnavailable(SurecaptureError):
    type = "service_unavailable"
    status = 503


class SalesChannelMismatch(SurecaptureError):
    """Cart create with a sales channel outside the key's scope: Medusa's `errors[]` body."""

    status = 400

    def __init__(self, errors: list[str]) -> None:
        super().__init__(
            "Provided request body contains errors. Please check the data and retry the request"
        )
        self.errors = errors
