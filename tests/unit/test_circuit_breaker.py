import asyncio
import errno

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from surecapture.errors import RedisUnavailable
from surecapture.lib.redis import BreakerState, CircuitBreaker
from tests.waiting import eventually


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused() -> RedisConnectionError:
    error = RedisConnectionError("Error 111 connecting")
    error.__cause__ = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    return error


class Redis:
    """Stands in for one Redis call: counts calls, fails or answers as told."""

    def __init__(self) -> None:
        self.calls = 0
        self.error: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> str:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return "PONG"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def changes() -> list[BreakerState]:
    return []


@pytest.fixture
def breaker(clock: Clock, changes: list[BreakerState]) -> CircuitBreaker:
    return CircuitBreaker(cooldown=5, clock=clock, on_change=changes.append)


async def test_a_connection_failure_opens_and_later_calls_fail_without_calling(
    breaker: CircuitBreaker,
) -> None:
    redis = Redis()
    redis.error = refused()
    with pytest.raises(RedisUnavailable) as first:
        await breaker.call(redis)
    assert (first.value.kind, first.value.errno) == ("refused", "ECONNREFUSED")
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(RedisUnavailable) as fast:
        await breaker.call(redis)
    assert redis.calls == 1, "an open breaker does not touch the network"
    assert fast.value.errno == "ECONNREFUSED"


async def test_after_the_cooldown_one_probe_closes_it(
    breaker: CircuitBreaker, clock: Clock, changes: list[BreakerState]
) -> None:
    redis = Redis()
    redis.error = refused()
    with pytest.raises(RedisUnavailable):
        await breaker.call(redis)
    clock.now += 4.9
    with pytest.raises(RedisUnavailable):
        await breaker.call(redis)
    clock.now += 0.1
    redis.error = None
    assert await breaker.call(redis) == "PONG"
    assert breaker.state is BreakerState.CLOSED
    assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


async def test_only_one_probe_at_a_time(breaker: CircuitBreaker, clock: Clock) -> None:
    redis = Redis()
    redis.error = refused()
    with pytest.raises(RedisUnavailable):
        await breaker.call(redis)
    clock.now += 5
    redis.error = None
    redis.gate = asyncio.Event()
    probe = asyncio.create_task(breaker.call(redis))
    await asyncio.sleep(0)
    assert breaker.state is BreakerState.HALF_OPEN
    for _ in range(10):
        with pytest.raises(RedisUnavailable):
            await breaker.call(redis)
    redis.gate.set()
    assert await probe == "PONG"
    assert redis.calls == 2


async def test_a_failed_probe_reopens_for_another_cooldown(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    redis = Redis()
    redis.error = refused()
    with pytest.raises(RedisUnavailable):
        await breaker.call(redis)
    clock.now += 5
    with pytest.raises(RedisUnavailable):
        await breaker.call(redis)
    assert (breaker.state, redis.calls) == (BreakerState.OPEN, 2)
    clock.now += 4
    with pytest.raises(RedisUnavailable):
        await breaker.call(redis)
    assert redis.calls == 2


async def test_an_error_reply_proves_redis_is_up(breaker: CircuitBreaker, clock: Clock) -> None:
    redis = Redis()
    redis.error = ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")
    with pytest.raises(ResponseError):
        await breaker.call(redis)
    assert breaker.state is BreakerState.CLOSED
    redis.error = refused()
    with pytest.raises(RedisUnavailable):
        await breaker.call(redis)
    clock.now += 5
    redis.error = ResponseError("NOSCRIPT")
    with pytest.raises(ResponseError):
        await breaker.call(redis)
    assert breaker.state is BreakerState.CLOSED


async def test_a_cancelled_probe_lets_the_next_call_probe(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    redis = Redis()
    redis.error = refused()
    with pytest.raises(RedisUnavailable):
        await breaker.call(redis)
    clock.now += 5
    redis.error = None
    redis.gate = asyncio.Event()
    probe = asyncio.create_task(breaker.call(redis))
    await asyncio.sleep(0)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    redis.gate.set()
    assert await breaker.call(redis) == "PONG"
    assert breaker.state is BreakerState.CLOSED


async def test_with_a_background_probe_no_call_ever_waits_on_a_dead_redis() -> None:
    redis, ping = Redis(), Redis()
    redis.error = ping.error = refused()
    breaker = CircuitBreaker(cooldown=0.01, probe=ping)
    with pytest.raises(RedisUnavailable):
        await breaker.call(redis)

    async def probed_twice() -> bool:
        return ping.calls >= 2

    await eventually(probed_twice)
    for _ in range(20):
        with pytest.raises(RedisUnavailable):
            await breaker.call(redis)
    assert redis.calls == 1, "after the first failure, calls never reach the network"

    ping.error = None
    redis.error = None

    async def closed() -> bool:
        return breaker.state is BreakerState.CLOSED

    await eventually(closed)
    assert await breaker.call(redis) == "PONG"
    await breaker.aclose()


async def test_closing_stops_the_background_probe() -> None:
    ping = Redis()
    ping.error = refused()
    breaker = CircuitBreaker(cooldown=0.01, probe=ping)
    with pytest.raises(RedisUnavailable):
        await breaker.call(ping)
    await breaker.aclose()
    calls = ping.calls
    await asyncio.sleep(0.05)  # long enough for several cool-downs, had the probe survived
    assert ping.calls == calls


async def test_an_explicit_probe_runs_while_open_and_closes_it(breaker: CircuitBreaker) -> None:
    redis = Redis()
    redis.error = refused()
    with pytest.raises(RedisUnavailable):
        await breaker.call(redis)
    redis.error = None
    assert await breaker.probe(redis) == "PONG"
    assert breaker.state is BreakerState.CLOSED


async def test_the_background_probe_never_reopens_a_breaker_something_else_closed() -> None:
    redis, ping = Redis(), Redis()
    redis.error = refused()
    ping.gate = asyncio.Event()  # the background probe would hang if it ever ran
    breaker = CircuitBreaker(cooldown=0.01, probe=ping)
    with pytest.raises(RedisUnavailable):
        await breaker.call(redis)
    redis.error = None
    assert await breaker.probe(redis) == "PONG"  # e.g. the fallback job's own PING
    # The probe task wakes after its cool-down and must stand down: had it probed, it would
    # hang on the gate and this wait would time out.
    assert breaker._prober is not None
    await asyncio.wait_for(breaker._prober, timeout=5)
    assert await breaker.call(redis) == "PONG"
    assert ping.calls == 0
    await breaker.aclose()
