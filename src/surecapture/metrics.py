"""Prometheus metrics. Process-wide, as prometheus-client intends; `/metrics` exposes them."""

from __future__ import annotations

from prometheus_client import Counter, Enum, Gauge, Histogram

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
REDIS_UP = Gauge("surecapture_redis_up", "1 when the last Redis call succeeded, 0 when it failed")
REDIS_BREAKER = Enum(
    "surecapture_redis_breaker",
    "State of the Redis circuit breaker",
    states=["closed", "open", "half_open"],
)
CAPTURES = Counter("surecapture_captures", "Capture attempts by outcome", ["outcome"])
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
