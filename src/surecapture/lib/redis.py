"""The one place that builds Redis clients and decides what counts as "Redis is down".

BullMQ, given a URL or a dict, builds a client that retries 20 times with exponential backoff,
so `queue.add` against a dead Redis hangs for minutes. Every client here has explicit connect
and read timeouts and a bounded retry, and BullMQ only ever receives one of these clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    BusyLoadingError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from surecapture.errors import RedisUnavailable

T = TypeVar("T")


@dataclass(frozen=True)
class RedisSettings:
    url: str = "redis://127.0.0.1:6379/0"
    connect_timeout: float = 0.2
    read_timeout: float = 0.3
    # One retry rides out a single dropped pooled connection (e.g. after a Redis restart); more
    # would only stretch the wait on a Redis that is really gone. redis-py retries the connect
    # handshake inside each command attempt, so a Redis that accepts but never answers costs
    # up to (retries + 1)^2 * read_timeout = 1.2 s before the call fails.
    retries: int = 1
    retry_backoff_cap: float = 0.05


def redis_client(settings: RedisSettings, *, read_timeout: float | None = None) -> aioredis.Redis:
    """A pooled client; `read_timeout` is raised only for blocking commands (a worker's wait)."""
    return aioredis.Redis.from_url(
        settings.url,
        decode_responses=True,  # BullMQ's scripts expect str replies
        socket_connect_timeout=settings.connect_timeout,
        socket_timeout=settings.read_timeout if read_timeout is None else read_timeout,
        retry=Retry(
            ExponentialBackoff(cap=settings.retry_backoff_cap, base=0.01), settings.retries
        ),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=30,
    )


def check_redis_url(url: str) -> None:
    """Raise ValueError when `url` cannot be a Redis URL (for start-up validation)."""
    try:
        aioredis.ConnectionPool.from_url(url)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a valid Redis URL ({exc})") from None


_ERRNO_KIND = {
    errno.ECONNREFUSED: "refused",
    errno.ETIMEDOUT: "timeout",
    errno.ECONNRESET: "reset",
    errno.ECONNABORTED: "reset",
    errno.EPIPE: "closed",
    errno.ENOTCONN: "closed",
    errno.EHOSTUNREACH: "refused",
    errno.ENETUNREACH: "refused",
    errno.EADDRNOTAVAIL: "refused",
}

# getaddrinfo failures: the name does not resolve (Node calls this ENOTFOUND).
_DNS_ERRORS = {
    socket.EAI_NONAME,
    socket.EAI_AGAIN,
    socket.EAI_FAIL,
    getattr(socket, "EAI_NODATA", -5),
}


def connection_failure(exc: BaseException) -> RedisUnavailable | None:
    """Classify `exc` (and what it wraps) by type and errno, never by message text.

    Returns a `RedisUnavailable` for refused, timed-out, unresolvable, reset or closed
    connections; None for anything else (a script error, WRONGTYPE, bad credentials…).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    kind: str | None = None
    code: str | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, AuthenticationError | AuthorizationError):
            return None
        if isinstance(current, socket.gaierror) and current.errno in _DNS_ERRORS:
            kind, code = "dns", "ENOTFOUND"
            break
        if isinstance(current, OSError) and current.errno in _ERRNO_KIND:
            kind, code = _ERRNO_KIND[current.errno], errno.errorcode[current.errno]
            break
        if isinstance(current, RedisTimeoutError | asyncio.TimeoutError | TimeoutError):
            kind, code = kind or "timeout", code or "ETIMEDOUT"
        elif isinstance(current, BusyLoadingError):
            kind = kind or "loading"
        elif isinstance(current, RedisConnectionError | ConnectionError | OSError):
            kind = kind or "closed"
        current = current.__cause__ or current.__context__
    if kind is None:
        return None
    return RedisUnavailable(
        f"Redis unavailable ({kind}{', ' + code if code else ''}): {type(exc).__name__}",
        kind=kind,
        errno=code,
    )


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls go to Redis
    OPEN = "open"  # Redis is known down: calls fail at once, without touching the network
    HALF_OPEN = "half_open"  # one probe call is testing whether Redis is back


class CircuitBreaker:
    """Fails Redis calls fast while Redis is known to be down.

    One connection failure opens it (each failure already cost a full timeout). While it is
    open, calls fail at once without touching the network. Recovery is probed every `cooldown`
    seconds: by a background `probe` (e.g. PING) when one is given, so that no caller ever waits
    on a dead Redis; otherwise by letting exactly one call through as the probe while every
    other call still fails fast. A successful probe closes the breaker. Any answer from Redis,
    even an error reply, proves Redis is up.

    Written here rather than taken from a library: the asyncio breakers we looked at
    (purgatory, aiobreaker) let every concurrent call through in the half-open state, so each
    cool-down under a hanging Redis would make a burst of checkouts wait the full timeout.
    """

    def __init__(
        self,
        *,
        cooldown: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
        probe: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.cooldown = cooldown
        self._clock = clock
        self._on_change = on_change
        self._probe = probe
        self._prober: asyncio.Task[None] | None = None
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self.last_failure: RedisUnavailable | None = None

    @property
    def state(self) -> BreakerState:
        return self._state

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run `operation` (a Redis call) unless the breaker is open; connection failures come
        out as `RedisUnavailable`, everything else as it was raised."""
        if not self._admit():
            raise self._fast_failure()
        concluded = False
        try:
            result = await operation()
            concluded = True
        except Exception as exc:
            concluded = True
            failure = self._record(exc)
            if failure is None or failure is exc:
                raise
            raise failure from exc
        finally:
            if not concluded and self._state is BreakerState.HALF_OPEN:
                # The probe was cancelled: it proved nothing, so let the next call probe.
                self._set(BreakerState.OPEN)
        self._set(BreakerState.CLOSED)
        return result

    async def probe(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run `operation` whatever the state (an explicit check, e.g. the fallback job's PING)
        and let its outcome open or close the breaker."""
        try:
            result = await operation()
        except Exception as exc:
            failure = self._record(exc)
            if failure is None or failure is exc:
                raise
            raise failure from exc
        self._set(BreakerState.CLOSED)
        return result

    async def aclose(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
            self._prober = None

    def _record(self, exc: Exception) -> RedisUnavailable | None:
        """Classify a failed call: a connection failure opens the breaker, an answer closes it."""
        failure = exc if isinstance(exc, RedisUnavailable) else connection_failure(exc)
        if failure is None:
            self._set(BreakerState.CLOSED)
            return None
        self.last_failure = failure
        self._opened_at = self._clock()
        self._set(BreakerState.OPEN)
        if self._probe is not None and (self._prober is None or self._prober.done()):
            self._prober = asyncio.create_task(self._probe_until_up())
        return failure

    async def _probe_until_up(self) -> None:
        assert self._probe is not None
        while self._state is not BreakerState.CLOSED:
            await asyncio.sleep(self.cooldown)
            if self._state is not BreakerState.OPEN:
                return  # a call or an explicit probe closed it meanwhile
            self._set(BreakerState.HALF_OPEN)
            try:
                await self._probe()
            except Exception as exc:
                self._record(exc)
                continue
            self._set(BreakerState.CLOSED)

    def _admit(self) -> bool:
        if self._state is BreakerState.CLOSED:
            return True
        if (
            self._probe is None
            and self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.cooldown
        ):
            self._set(BreakerState.HALF_OPEN)
            return True
        return False

    def _fast_failure(self) -> RedisUnavailable:
        last = self.last_failure
        kind = last.kind if last else "unknown"
        return RedisUnavailable(
            f"Redis circuit {self._state.value} (last failure: {last.message if last else '?'})",
            kind=kind,
            errno=last.errno if last else None,
        )

    def _set(self, state: BreakerState) -> None:
        if state is not self._state:
            self._state = state
            if self._on_change is not None:
                self._on_change(state)
