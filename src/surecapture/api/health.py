"""`/health`: healthy while Postgres answers."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import select

from surecapture.api.deps import ContextDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(context: ContextDep) -> JSONResponse:
    postgres = "up"
    try:
        async with asyncio.timeout(2), context.engine.connect() as connection:
            await connection.execute(select(1))
    except Exception:
        postgres = "down"
    body: dict[str, Any] = {"status": "ok" if postgres == "up" else "down", "postgres": postgres}
    return JSONResponse(body, status_code=200 if postgres == "up" else 503)
