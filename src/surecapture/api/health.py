"""`/health`: healthy while Postgres answers."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select

from surecapture import metrics
from surecapture.api.deps import ContextDep

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(context: ContextDep) -> JSONResponse:
    postgres = "up"
    try:
        async with asyncio.timeout(2), context.engine.connect() as connection:
            await connection.execute(select(1))
    except Exception:
        postgres = "down"
    redis = await context.redis_status()
    status = "down" if postgres == "down" else "ok" if redis == "up" else "degraded"
    body: dict[str, Any] = {
        "status": status,
        "postgres": postgres,
        "redis": redis,
        "redis_breaker": context.queue.breaker.state.value,
    }
    # Without Redis the service still takes orders (flagged for recovery): healthy, degraded.
    return JSONResponse(body, status_code=200 if postgres == "up" else 503)


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(context: ContextDep) -> Response:
    try:
        gauges = await context.orders.gauges()
        now = datetime.now(UTC)
        oldest, due = gauges.oldest_flagged_at, gauges.oldest_due_authorized
        metrics.REDIS_OUTAGE_IMPACT.set(gauges.flagged)
        metrics.OLDEST_FLAGGED_AGE.set((now - oldest).total_seconds() if oldest else 0.0)
        metrics.OVERDUE_CAPTURE_AGE.set(max(0.0, (now - due).total_seconds()) if due else 0.0)
        metrics.CAPTURE_FAILED_ORDERS.set(gauges.capture_failed)
    except Exception:
        # The gauges keep their last values; the scrape must not fail because Postgres did.
        log.warning("order gauges (redis_outage_impact …) not refreshed: Postgres unavailable")
    await context.redis_status()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
