"""Prometheus metrics. Process-wide, as prometheus-client intends. The API's `/metrics` exposes
them all; a `worker` or `scheduler` process serves its own on `METRICS_PORT` (`serve_own`)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, start_http_server
from prometheus_client.registry import Collector

ORDERS_PLACED = Counter("surecapture_orders_placed", "Orders placed through checkout")
ORDERS_FLAGGED = Counter(
    "surecapture_orders_flagged",
    "Orders flagged needs_recovery because their capture job could not be scheduled",
    ["reason"],
)
REDIS_OUTAGE_IMPACT = Gauge(
    "redis_outage_impact",
    "Orders currently flagged needs_recovery (counted in Postgres at each scrape)",
)
OLDEST_FLAGGED_AGE = Gauge(
    "surecapture_oldest_flagged_order_age_seconds",
    "Age of the oldest order still flagged needs_recovery (0 when none), at each scrape",
)
OVERDUE_CAPTURE_AGE = Gauge(
    "surecapture_overdue_capture_seconds",
    "How long ago the oldest authorized order's capture fell due (0 when none is overdue), "
    "at each scrape: a capture job lost with no one noticing shows here",
)
CAPTURE_FAILED_ORDERS = Gauge(
    "surecapture_capture_failed_orders",
    "Orders whose capture failed for good (payment_status capture_failed), at each scrape: "
    "money not collected until someone settles them",
)
REDIS_UP = Gauge("surecapture_redis_up", "1 when the last Redis call succeeded, 0 when it failed")
REDIS_BREAKER = Enum(
    "surecapture_redis_breaker",
    "State of the Redis circuit breaker",
    states=["closed", "open", "half_open"],
)
CAPTURES = Counter(
    "surecapture_captures",
    "Capture job runs by outcome; failed counts orders that ended capture_failed (their last run "
    "is also counted, as declined or retryable_error)",
    ["outcome"],
)
CHECKOUT_SECONDS = Histogram(
    "surecapture_checkout_seconds",
    "Time to complete a cart, in seconds",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
FALLBACK_RUNS = Counter("surecapture_fallback_runs", "Fallback capture runs by status", ["status"])
FALLBACK_SECONDS = Histogram(
    "surecapture_fallback_seconds",
    "Duration of fallback capture runs, in seconds",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)
FALLBACK_ORDERS = Counter(
    "surecapture_fallback_orders",
    "Orders the fallback job acted on: recovered (flagged), stale, failed_retried",
    ["kind"],
)

# Every label value the code uses, exported at 0 from the start: a series that first appears
# with its first increment hides that increment from increase() and rate(), so the first burst
# of flagged orders after a restart would never fire the alert (Prometheus' advice: initialize
# the label values you know of).
FLAG_REASONS = ("redis_failure",)
CAPTURE_OUTCOMES = (
    "captured",
    "already_captured",
    "canceled",
    "not_due",
    "missing",
    "retryable_error",
    "declined",
    "failed",
)
FALLBACK_STATUSES = ("done", "already_running", "redis_down", "interrupted")
FALLBACK_KINDS = ("recovered", "stale", "failed_retried")
for _reason in FLAG_REASONS:
    ORDERS_FLAGGED.labels(reason=_reason)
for _outcome in CAPTURE_OUTCOMES:
    CAPTURES.labels(outcome=_outcome)
for _status in FALLBACK_STATUSES:
    FALLBACK_RUNS.labels(status=_status)
for _kind in FALLBACK_KINDS:
    FALLBACK_ORDERS.labels(kind=_kind)

WORKER_METRICS: tuple[Collector, ...] = (CAPTURES,)
SCHEDULER_METRICS: tuple[Collector, ...] = (FALLBACK_RUNS, FALLBACK_SECONDS, FALLBACK_ORDERS)


def serve_own(families: tuple[Collector, ...], host: str, port: int) -> Callable[[], None]:
    """Serve `/metrics` with only `families`, the ones this process updates: the rest would
    export values it never sets (`surecapture_redis_up` 0 from a worker would read as Redis
    down). Returns the function that stops the server."""
    registry = CollectorRegistry()
    for family in families:
        registry.register(family)
    server, thread = start_http_server(port, addr=host, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return stop
