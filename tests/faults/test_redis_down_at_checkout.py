"""Redis down at checkout (story 6.2, AC 1-7): each failure produced for real, checked end to end
through the Store API: 200, the order flagged in Postgres, the log lines an operator sees."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from surecapture.context import Context
from surecapture.db.engine import build_engine, build_sessionmaker
from surecapture.db.models import Order
from surecapture.events import ORDER_PLACED
from surecapture.lib.payment_capture_queue import JobState, PaymentCaptureQueue
from surecapture.lib.redis import RedisSettings, redis_client
from surecapture.services.order_service import OrderService
from surecapture.subscribers.order_placed import OrderPlacedSubscriber
from tests import storefront
from tests.bus import on_order_placed
from tests.conftest import ADMIN_TOKEN, queue_prefix
from tests.faults.conftest import Stack, metadata_of
from tests.ready_carts import insert_ready_carts
from tests.redis_tools import (
    RedisServer,
    free_port,
    redis_server,
    silent_proxy,
    unaccepting_listener,
)
from tests.waiting import eventually

FLAG = {"needs_recovery": True, "recovery_reason": "redis_failure"}
AppAgainst = Callable[..., AbstractAsyncContextManager[Stack]]


def dlq_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("[CRITICAL][DLQ] Redis")]


async def checkout_flagged(client: httpx.AsyncClient, context: Context) -> str:
    """One checkout while Redis fails: 200 with the order, and the order flagged with both keys
    while the metadata another writer set on it stays."""

    async def tag(data: dict[str, Any]) -> None:
        await context.orders.update_orders([{"id": data["id"], "metadata": {"channel": "web"}}])

    with on_order_placed(context, tag):
        cart = await storefront.ready_cart(client)
        response = await client.post(f"/store/carts/{cart['id']}/complete")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "order"
    order_id: str = body["order"]["id"]
    assert await metadata_of(context, order_id) == {**FLAG, "channel": "web"}
    return order_id


def assert_first_line(caplog: pytest.LogCaptureFixture, order_id: str, *parts: str) -> None:
    lines = dlq_lines(caplog)
    assert lines, "no [CRITICAL][DLQ] line"
    first = lines[0]
    assert first.levelno == logging.ERROR
    for part in (order_id, *parts):
        assert part in first.getMessage(), first.getMessage()


async def test_redis_refused(
    app_against: AppAgainst, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path).start()
    server.kill()  # the port had a Redis; now nothing listens there
    async with app_against(server.url) as (client, context):
        order_id = await checkout_flagged(client, context)
    assert_first_line(caplog, order_id, "ECONNREFUSED", "kind=refused", "(ConnectionError")


async def test_redis_connect_hangs(
    app_against: AppAgainst, caplog: pytest.LogCaptureFixture
) -> None:
    with unaccepting_listener() as port:
        async with app_against(f"redis://127.0.0.1:{port}/0") as (client, context):
            order_id = await checkout_flagged(client, context)
    assert_first_line(caplog, order_id, "ETIMEDOUT", "kind=timeout")


async def test_redis_accepts_but_never_answers(
    app_against: AppAgainst, caplog: pytest.LogCaptureFixture
) -> None:
    with silent_proxy() as port:
        async with app_against(f"redis://127.0.0.1:{port}/0") as (client, context):
            order_id = await checkout_flagged(client, context)
    assert_first_line(caplog, order_id, "ETIMEDOUT", "kind=timeout")


async def test_redis_name_does_not_resolve(
    app_against: AppAgainst, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        # Only the Redis name fails; nothing else is resolved for real either way.
        if host == "redis.internal":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return await real(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", resolve)
    async with app_against("redis://redis.internal:6379/0") as (client, context):
        order_id = await checkout_flagged(client, context)
    assert_first_line(caplog, order_id, "ENOTFOUND", "kind=dns")


async def test_redis_dies_during_a_burst_of_fifty_checkouts(
    app_against: AppAgainst, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="surecapture.subscribers.order_placed")
    with redis_server(tmp_path) as server:
        async with app_against(server.url) as (client, context):
            carts = await insert_ready_carts(context.db, 50)
            scheduled = 0

            async def count(data: dict[str, Any]) -> None:
                nonlocal scheduled
                scheduled += 1
                if scheduled == 10:
                    server.kill()  # mid-burst, with checkouts in flight

            context.bus.subscribe(ORDER_PLACED, count)
            responses = await asyncio.gather(
                *(client.post(f"/store/carts/{cart_id}/complete") for cart_id in carts)
            )
            assert [r.status_code for r in responses] == [200] * 50
            order_ids = [r.json()["order"]["id"] for r in responses]
            acknowledged = {
                oid
                for oid in order_ids
                if any(
                    f"capture of order {oid} scheduled" in r.getMessage() for r in caplog.records
                )
            }
            flagged = {
                oid for oid in order_ids if (await metadata_of(context, oid)).get("needs_recovery")
            }
    assert acknowledged & flagged == set(), "an order both scheduled and flagged"
    assert acknowledged | flagged == set(order_ids), "an order neither scheduled nor flagged"
    assert acknowledged and flagged, (len(acknowledged), len(flagged))


async def test_an_error_reply_is_not_an_outage(
    app_against: AppAgainst, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with redis_server(tmp_path) as server:
        async with app_against(server.url) as (client, context):
            # The delayed set is a string now: BullMQ's script gets WRONGTYPE from Redis.
            await context.redis.set(context.queue.queue.keys["delayed"], "not a sorted set")
            cart = await storefront.ready_cart(client)
            response = await client.post(f"/store/carts/{cart['id']}/complete")
            assert response.status_code == 200
            order_id = response.json()["order"]["id"]
            assert await metadata_of(context, order_id) == {}
            assert context.queue.breaker.state.value == "closed"
    assert dlq_lines(caplog) == []
    errors = [
        r for r in caplog.records if order_id in r.getMessage() and r.levelno == logging.ERROR
    ]
    assert len(errors) == 1
    assert errors[0].exc_info is not None and "WRONGTYPE" in str(errors[0].exc_info[1])


async def test_one_outage_logs_one_error_then_warnings_then_back(
    app_against: AppAgainst, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path, port=free_port())
    server.start()
    try:
        async with app_against(server.url) as (client, context):
            await storefront.complete(client, (await storefront.ready_cart(client))["id"])
            carts = await insert_ready_carts(context.db, 100)
            server.kill()
            for cart_id in carts:
                await storefront.complete(client, cart_id)
            server.start()

            async def back() -> bool:
                await storefront.complete(client, (await storefront.ready_cart(client))["id"])
                return any("Redis is back" in r.getMessage() for r in caplog.records)

            await eventually(back, within=10, interval=0.05)
    finally:
        server.kill()
    lines = dlq_lines(caplog)
    assert len(lines) >= 100
    assert [r.levelno for r in lines] == [logging.ERROR] + [logging.WARNING] * (len(lines) - 1)
    assert len([r for r in caplog.records if "Redis is back" in r.getMessage()]) == 1


@pytest.mark.parametrize(("orders", "alerts"), [(10, 0), (11, 1)])
async def test_alert_line_when_more_than_ten_orders_are_flagged(
    app_against: AppAgainst, caplog: pytest.LogCaptureFixture, orders: int, alerts: int
) -> None:
    async with app_against(f"redis://127.0.0.1:{free_port()}/0") as (client, _):
        for _ in range(orders):
            await storefront.complete(client, (await storefront.ready_cart(client))["id"])
    found = [r for r in caplog.records if "[ALERT]" in r.getMessage()]
    assert len(found) == alerts
    assert all(r.levelno == logging.CRITICAL for r in found)


async def test_health_metrics_and_admin_show_the_outage(
    app_against: AppAgainst, fresh_database_url: str
) -> None:
    # A database of its own: on the shared one, another process's fallback run may recover
    # flagged orders between this test's scrape and its count.
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    async with app_against(redis_url, database_url=fresh_database_url) as (client, context):
        order_id = await checkout_flagged(client, context)
        health = await client.get("/health")
        assert health.status_code == 200
        assert health.json() == {
            "status": "degraded",
            "postgres": "up",
            "redis": "down",
            "redis_breaker": "open",
        }
        scrape = (await client.get("/metrics")).text
        # Its capture falls due in an hour: not overdue. Moved 20 minutes into the past, it is.
        async with context.db.begin() as session:
            await session.execute(
                update(Order)
                .where(Order.id == order_id)
                .values(capture_due_at=datetime.now(UTC) - timedelta(minutes=20))
            )
        overdue = gauge((await client.get("/metrics")).text, "surecapture_overdue_capture_seconds")
        # Its capture failed for good: counted as such, and no longer as overdue.
        async with context.db.begin() as session:
            await session.execute(
                update(Order).where(Order.id == order_id).values(payment_status="capture_failed")
            )
        failed = (await client.get("/metrics")).text
        client.headers["authorization"] = f"Bearer {ADMIN_TOKEN}"
        listed = await storefront.ok(
            await client.get("/admin/orders", params={"needs_recovery": "true"})
        )
    assert "redis_outage_impact 1.0" in scrape
    assert 'surecapture_orders_flagged_total{reason="redis_failure"}' in scrape
    assert "surecapture_redis_up 0.0" in scrape
    assert 'surecapture_redis_breaker{surecapture_redis_breaker="open"} 1.0' in scrape
    assert [o["id"] for o in listed["orders"]] == [order_id]
    assert gauge(scrape, "surecapture_overdue_capture_seconds") == 0
    assert 0 < gauge(scrape, "surecapture_oldest_flagged_order_age_seconds") < 60
    assert 1200 <= overdue < 1260
    assert gauge(scrape, "surecapture_capture_failed_orders") == 0
    assert gauge(failed, "surecapture_capture_failed_orders") == 1
    assert gauge(failed, "surecapture_overdue_capture_seconds") == 0


def gauge(scrape: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", scrape, re.M)
    assert found, f"{name} not exported"
    return float(found[1])


async def test_flagged_orders_have_no_job_and_scheduled_ones_do(
    app_against: AppAgainst, tmp_path: Path
) -> None:
    with redis_server(tmp_path) as server:
        async with app_against(server.url) as (client, context):
            fine = (await storefront.complete(client, (await storefront.ready_cart(client))["id"]))[
                "order"
            ]["id"]
            assert await context.queue.job_state(fine) is JobState.DELAYED
            assert await metadata_of(context, fine) == {}


async def test_redis_and_postgres_both_failing_leave_the_order_to_the_stale_scan(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Redis refuses, and so does the Postgres the flag would be written to (a blip after the
    # checkout committed): the subscriber must not raise into checkout, and must say so.
    client = redis_client(RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0"))
    engine = build_engine(f"postgresql+asyncpg://127.0.0.1:{free_port()}/gone", pool_size=1)
    subscriber = OrderPlacedSubscriber(
        PaymentCaptureQueue(client, prefix=queue_prefix()),
        OrderService(build_sessionmaker(engine)),
    )
    try:
        await subscriber(
            {
                "id": "order_both_down",
                "payment_status": "authorized",
                "payment_reference": "pi_both_down",
                "capture_due_at": datetime.now(UTC) + timedelta(minutes=5),
            }
        )
    finally:
        await client.aclose()
        await engine.dispose()
    lines = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    message = lines[0].getMessage()
    assert message.startswith("[CRITICAL][DLQ] Redis unavailable (refused) and order order_both")
    assert "stale-order scan" in message and lines[0].exc_info
    assert not subscriber.outage.in_outage  # nothing was flagged, so nothing is counted
