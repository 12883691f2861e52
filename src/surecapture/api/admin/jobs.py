"""Admin: run the fallback capture job now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from surecapture.api.deps import ContextDep
from surecapture.jobs.fallback_capture import run_fallback

router = APIRouter(prefix="/jobs", tags=["admin: jobs"])


@router.post("/fallback-capture")
async def run_fallback_capture(context: ContextDep) -> dict[str, Any]:
    """Runs it now and answers its summary; `status` is `already_running` when another run
    holds the lock (nothing was done), `redis_down` when Redis is still unavailable."""
    summary = await run_fallback(context)
    return {"summary": summary.as_dict()}
