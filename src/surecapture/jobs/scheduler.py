"""Runs the fallback capture job on `FALLBACK_CRON`. A run still going at the next tick makes
that tick skip, not stack; across processes the job's advisory lock keeps it to one run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from croniter import croniter

from surecapture.context import Context
from surecapture.jobs.fallback_capture import run_fallback

log = logging.getLogger(__name__)


class FallbackScheduler:
    def __init__(
        self,
        context: Context,
        run: Callable[[Context], Awaitable[object]] = run_fallback,
    ) -> None:
        self._context = context
        self._job = run
        self._loop_task: asyncio.Task[None] | None = None
        self._run: asyncio.Task[object] | None = None

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop())
        self._loop_task.add_done_callback(_log_crash)
        log.info("fallback capture scheduled: %s", self._context.settings.fallback_cron)

    async def close(self) -> None:
        for task in (self._loop_task, self._run):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _loop(self) -> None:
        schedule = croniter(self._context.settings.fallback_cron, datetime.now(UTC))
        while True:
            due: datetime = schedule.get_next(datetime)
            await asyncio.sleep(max((due - datetime.now(UTC)).total_seconds(), 0))
            if self._run is not None and not self._run.done():
                log.warning("fallback capture still running at %s: this tick is skipped", due)
                continue
            self._run = asyncio.create_task(self._guarded())

    async def _guarded(self) -> None:
        try:
            await self._job(self._context)
        except Exception:
            log.exception("fallback capture run failed")


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("fallback capture scheduler stopped", exc_info=task.exception())
