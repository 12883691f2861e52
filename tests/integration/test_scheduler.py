"""The fallback scheduler ticks on FALLBACK_CRON and never stacks runs."""

import asyncio

import pytest

from surecapture.context import Context
from surecapture.jobs.scheduler import FallbackScheduler
from tests.waiting import eventually


async def test_a_run_still_going_makes_the_next_ticks_skip(
    context: Context, caplog: pytest.LogCaptureFixture
) -> None:
    every_second = context.settings.model_copy(update={"fallback_cron": "* * * * * */1"})
    release = asyncio.Event()
    runs = 0

    async def slow_run(_: Context) -> None:
        nonlocal runs
        runs += 1
        await release.wait()

    quick = Context(**{**context.__dict__, "settings": every_second})
    scheduler = FallbackScheduler(quick, run=slow_run)
    scheduler.start()
    try:
        await eventually(lambda: _skipped(caplog, 2), within=10)
        assert runs == 1
        release.set()

        async def ran_again() -> bool:
            return runs >= 2

        await eventually(ran_again, within=10)
    finally:
        await scheduler.close()


async def _skipped(caplog: pytest.LogCaptureFixture, times: int) -> bool:
    return sum("this tick is skipped" in r.getMessage() for r in caplog.records) >= times
