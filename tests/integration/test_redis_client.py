"""The Redis client factory and the connection-failure classifier, against real sockets."""

import asyncio
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, ResponseError

from surecapture.errors import RedisUnavailable
from surecapture.lib.payment_capture_queue import PaymentCaptureQueue
from surecapture.lib.redis import RedisSettings, connection_failure, redis_client
from tests.redis_tools import free_port, redis_server, silent_proxy, unaccepting_listener

NOW = datetime.now(UTC)


async def schedule_against(url: str) -> RedisUnavailable:
    client = redis_client(RedisSettings(url=url))
    queue = PaymentCaptureQueue(client, prefix="probe")
    try:
        # Bounded by the client's own timeouts; BullMQ's default client would hang for minutes.
        async with asyncio.timeout(5):
            with pytest.raises(RedisUnavailable) as caught:
                await queue.schedule_payment_capture("order_x", "ref", NOW)
    finally:
        await client.aclose()
    return caught.value


async def test_no_listener_is_refused_promptly() -> None:
    failure = await schedule_against(f"redis://127.0.0.1:{free_port()}/0")
    assert (failure.kind, failure.errno) == ("refused", "ECONNREFUSED")


async def test_connect_that_never_completes_times_out() -> None:
    with unaccepting_listener() as port:
        failure = await schedule_against(f"redis://127.0.0.1:{port}/0")
    assert (failure.kind, failure.errno) == ("timeout", "ETIMEDOUT")


async def test_server_that_never_answers_times_out() -> None:
    with silent_proxy() as port:
        failure = await schedule_against(f"redis://127.0.0.1:{port}/0")
    assert (failure.kind, failure.errno) == ("timeout", "ETIMEDOUT")


async def test_unresolvable_name_is_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_name(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    # Resolution is patched: no real name is ever looked up.
    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    loop = asyncio.get_running_loop()

    async def loop_no_such_name(*args: object, **kwargs: object) -> list[object]:
        return no_such_name()

    monkeypatch.setattr(loop, "getaddrinfo", loop_no_such_name)
    failure = await schedule_against("redis://redis.internal.example:6379/0")
    assert (failure.kind, failure.errno) == ("dns", "ENOTFOUND")


async def test_redis_killed_under_a_pooled_connection_is_a_connection_failure(
    tmp_path: Path,
) -> None:
    with redis_server(tmp_path) as server:
        client = redis_client(RedisSettings(url=server.url))
        await client.ping()
        server.kill()
        with pytest.raises(Exception) as caught:
            await client.ping()
        await client.aclose()
    failure = connection_failure(caught.value)
    assert failure is not None
    assert failure.kind in {"refused", "reset", "closed"}


async def test_answers_that_are_errors_are_not_outages(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        client = redis_client(RedisSettings(url=server.url))
        await client.set("k", "v")
        with pytest.raises(ResponseError) as wrongtype:
            await client.lpush("k", "x")
        with pytest.raises(ResponseError) as script:
            await client.eval("return redis.call('NOPE')", 0)
        await client.aclose()
    assert "WRONGTYPE" in str(wrongtype.value)
    assert connection_failure(wrongtype.value) is None
    assert connection_failure(script.value) is None
    assert connection_failure(AuthenticationError("invalid password")) is None
    assert connection_failure(ValueError("not redis")) is None


def test_the_queue_uses_the_factory_client() -> None:
    """Regression guard: BullMQ must never build its own (20-retry) connection."""
    settings = RedisSettings(url="redis://127.0.0.1:6399/0", connect_timeout=0.2, read_timeout=0.3)
    client = redis_client(settings)
    queue = PaymentCaptureQueue(client)
    assert queue.queue.client is client
    assert queue.queue.redisConnection.conn is client
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (0.2, 0.3)
    assert client.get_retry() is not None
    assert client.get_retry()._retries == settings.retries


def test_factory_honours_credentials_database_and_tls() -> None:
    client = redis_client(RedisSettings(url="rediss://user:secret@cache.example:6380/3"))
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("user", "secret", 3)
    assert (kwargs["host"], kwargs["port"]) == ("cache.example", 6380)
    assert client.connection_pool.connection_class is aioredis.SSLConnection
