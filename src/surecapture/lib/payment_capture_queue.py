"""The capture intent: BullMQ delayed job `capture-{order_id}` in queue `payment-capture`.

BullMQ's rules this module is written around:
- `add` with an existing job id is ignored silently, also when the job is completed or failed
  and still kept (`removeOnComplete`/`removeOnFail`); callers that must know check the state.
- `promoteJobs()` promotes every delayed job in the queue; it is never called here.

Every call goes through the circuit breaker of `lib/redis.py`: connection failures come out as
`RedisUnavailable` (at once, without touching the network, while the breaker is open); other
errors propagate as they are.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis
from bullmq import Queue
from bullmq.redis_connection import loadScript

from surecapture.errors import CaptureJobActive
from surecapture.ids import new_id
from surecapture.lib.redis import CircuitBreaker

QUEUE_NAME = "payment-capture"
JOB_NAME = "capture"


class JobState(StrEnum):
    DELAYED = "delayed"
    WAITING = "waiting"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    PRIORITIZED = "prioritized"
    WAITING_CHILDREN = "waiting-children"
    MISSING = "unknown"  # no such job in Redis

    @property
    def pending(self) -> bool:
        """The job will still run (or is running)."""
        return self in {JobState.DELAYED, JobState.WAITING, JobState.ACTIVE, JobState.PRIORITIZED}


def capture_job_id(order_id: str) -> str:
    """Job id, and the provider's idempotency key of the order's first capture."""
    return f"capture-{order_id}"


def fresh_capture_key(order_id: str) -> str:
    """The idempotency key of a retry after a capture failed for good. Stripe saves the answer
    to a request it began executing under its key, errors and 500s included, and replays it to
    every request with that key for 24 hours: a retry under the first key would only get the
    old failure back. A new key cannot charge twice: an intent is captured once, and a capture
    of a captured intent is answered as already done."""
    return f"{capture_job_id(order_id)}-{new_id('retry')}"


def delay_ms(due_at: datetime, now_ms: int | None = None) -> int:
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return max(int(due_at.timestamp() * 1000) - now_ms, 0)


class PaymentCaptureQueue:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "bull",
        attempts: int = 3,
        backoff_ms: int = 1000,
        keep_completed_seconds: int = 7 * 24 * 3600,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.client = client
        self.breaker = breaker or CircuitBreaker()
        self.queue = Queue(QUEUE_NAME, {"connection": client, "prefix": prefix})
        self._job_options: dict[str, Any] = {
            "attempts": attempts,
            "backoff": {"type": "exponential", "delay": backoff_ms},
            # Finished jobs are kept for a while: they are the evidence the fallback job reads
            # (and the reason a plain re-add would be ignored).
            "removeOnComplete": {"age": keep_completed_seconds},
            "removeOnFail": {"age": 4 * keep_completed_seconds},
        }
        self._change_delay = client.register_script(loadScript("changeDelay-4.lua"))
        self._states_script = client.register_script(_STATES_SCRIPT)

    async def close(self) -> None:
        await self.queue.close()

    def _job(
        self, order_id: str, reference: str, due_at: datetime, *, fresh_key: bool = False
    ) -> dict[str, Any]:
        """The capture job of an order, as BullMQ's `add`/`addBulk` take it."""
        data = {"order_id": order_id, "reference": reference, "due_at": due_at.isoformat()}
        if fresh_key:
            data["idempotency_key"] = fresh_capture_key(order_id)
        return {
            "name": JOB_NAME,
            "data": data,
            "opts": {
                **self._job_options,
                "jobId": capture_job_id(order_id),
                "delay": delay_ms(due_at),
            },
        }

    async def schedule_payment_capture(
        self, order_id: str, reference: str, due_at: datetime, *, fresh_key: bool = False
    ) -> str:
        """Add the delayed capture job, due at `due_at` (now if that has passed). `fresh_key`:
        the capture is a retry after a failure, under an idempotency key of its own."""
        job = self._job(order_id, reference, due_at, fresh_key=fresh_key)
        await self.breaker.call(lambda: self.queue.add(job["name"], job["data"], job["opts"]))
        return str(job["opts"]["jobId"])

    async def schedule_many(
        self, captures: Iterable[tuple[str, str, datetime]], *, fresh_keys: bool = False
    ) -> None:
        """`schedule_payment_capture` for many orders in one round trip (a MULTI pipeline);
        (order_id, reference, due_at) each. Same rule: existing job ids are left as they are."""
        jobs = [self._job(*capture, fresh_key=fresh_keys) for capture in captures]
        if jobs:
            await self.breaker.call(lambda: self.queue.addBulk(jobs))

    async def ping(self) -> None:
        """Ask Redis itself, even while the breaker is open (the fallback job's own check); an
        answer closes the breaker."""
        await self.breaker.probe(self.client.ping)

    async def job_state(self, order_id: str) -> JobState:
        state = await self.breaker.call(lambda: self.queue.getJobState(capture_job_id(order_id)))
        return _state(state)

    async def change_delay(self, order_id: str, due_at: datetime) -> bool:
        """Move a delayed job's due time; False when the job is not delayed (any more)."""
        keys = self.queue.keys
        job_id = capture_job_id(order_id)
        now_ms = int(time.time() * 1000)
        result = await self.breaker.call(
            lambda: self._change_delay(
                keys=[keys["delayed"], keys["meta"], keys["marker"], keys["events"]],
                args=[delay_ms(due_at, now_ms), now_ms, job_id, self.queue.toKey(job_id)],
            )
        )
        return bool(result == 0)

    async def remove_finished(self, order_ids: Iterable[str]) -> None:
        """Delete completed or failed jobs, so that their ids can be added again."""
        ids = [capture_job_id(order_id) for order_id in order_ids]

        async def remove() -> None:
            for job_id in ids:
                await self.queue.remove(job_id, {"removeChildren": False})

        if ids:
            await self.breaker.call(remove)

    async def cancel(self, order_id: str) -> bool:
        """Remove the job. True if removed, False if there was none; `CaptureJobActive` when a
        worker holds it (the capture may be happening right now)."""
        job_id = capture_job_id(order_id)

        async def remove() -> int | None:
            if await self.client.exists(self.queue.toKey(job_id)) == 0:
                return None
            removed: int = await self.queue.remove(job_id, {"removeChildren": False})
            return removed

        removed = await self.breaker.call(remove)
        if removed is None:
            return False
        if not removed:
            raise CaptureJobActive(f"The capture of order {order_id} is in progress")
        return True

    async def job_states(self, order_ids: Iterable[str]) -> dict[str, JobState]:
        """States of many jobs in one round trip: a small script checks, for each job, the
        delayed set (where nearly all of them are), the job hash, the finished sets and the
        lock, server-side, and answers one word per job."""
        ids = list(order_ids)
        if not ids:
            return {}
        keys = self.queue.keys
        words = await self.breaker.call(
            lambda: self._states_script(
                keys=[keys["delayed"], keys["completed"], keys["failed"]],
                args=[self.queue.toKey(""), *(capture_job_id(order_id) for order_id in ids)],
            )
        )
        return {order_id: _state(word) for order_id, word in zip(ids, words, strict=True)}


# Reads only keys of this queue (the job hashes share the queue's key prefix, ARGV[1]).
_STATES_SCRIPT = """
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local job = ARGV[1] .. id
  local state
  if redis.call("ZSCORE", KEYS[1], id) then state = "delayed"
  elseif redis.call("EXISTS", job) == 0 then state = "unknown"
  elseif redis.call("ZSCORE", KEYS[2], id) then state = "completed"
  elseif redis.call("ZSCORE", KEYS[3], id) then state = "failed"
  elseif redis.call("EXISTS", job .. ":lock") == 1 then state = "active"
  else state = "waiting" end
  out[#out + 1] = state
end
return out
"""


def _state(value: str | None) -> JobState:
    try:
        return JobState(value or "unknown")
    except ValueError:
        return JobState.WAITING
