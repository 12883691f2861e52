import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from surecapture.context import Context
from tests import storefront


async def test_admin_needs_the_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin/orders")).status_code == 401
    client.headers["authorization"] = "Bearer wrong"
    response = await client.get("/admin/orders")
    assert response.status_code == 401
    assert response.json()["type"] == "unauthorized"


async def test_orders_filtered_by_needs_recovery(
    admin: httpx.AsyncClient, context: Context
) -> None:
    flagged: list[str] = []
    plain: list[str] = []
    for target in (flagged, flagged, plain):
        cart = await storefront.ready_cart(admin)
        target.append((await storefront.complete(admin, cart["id"]))["order"]["id"])
    await context.orders.update_orders(
        [
            {"id": i, "metadata": {"needs_recovery": True, "recovery_reason": "redis_failure"}}
            for i in flagged
        ]
    )
    body = await storefront.ok(
        await admin.get("/admin/orders", params={"needs_recovery": "true", "limit": 1000})
    )
    ids = {o["id"] for o in body["orders"]}
    assert set(flagged) <= ids
    assert plain[0] not in ids
    assert all(o["metadata"]["needs_recovery"] is True for o in body["orders"])
    unflagged = await storefront.ok(
        await admin.get("/admin/orders", params={"needs_recovery": "false", "limit": 1000})
    )
    assert plain[0] in {o["id"] for o in unflagged["orders"]}
    assert not set(flagged) & {o["id"] for o in unflagged["orders"]}


async def test_orders_filtered_by_status_range_and_paged(admin: httpx.AsyncClient) -> None:
    start = datetime.now(UTC)
    placed = []
    for _ in range(3):
        cart = await storefront.ready_cart(admin)
        placed.append((await storefront.complete(admin, cart["id"]))["order"]["id"])
    end = datetime.now(UTC) + timedelta(microseconds=1)
    window = {"created_after": start.isoformat(), "created_before": end.isoformat()}
    params: dict[str, str | int] = {**window, "payment_status": "authorized", "limit": 2}
    page1 = await storefront.ok(await admin.get("/admin/orders", params=params))
    page2 = await storefront.ok(await admin.get("/admin/orders", params={**params, "offset": 2}))
    assert page1["count"] == page2["count"] == 3
    newest_first = [o["id"] for o in page1["orders"] + page2["orders"]]
    assert newest_first == placed[::-1]
    captured = await storefront.ok(
        await admin.get("/admin/orders", params={**window, "payment_status": "captured"})
    )
    assert (captured["orders"], captured["count"]) == ([], 0)


async def test_unknown_status_filter_is_400(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/admin/orders", params={"payment_status": "lost"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "yesterday"]
)
async def test_a_date_filter_out_of_range_or_malformed_is_400(
    admin: httpx.AsyncClient, value: str
) -> None:
    response = await admin.get("/admin/orders", params={"created_after": value})
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "invalid_data"
    assert "created_after" in response.json()["message"]


async def test_a_date_filter_without_an_offset_is_utc(
    admin: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    cart = await storefront.ready_cart(admin)
    order = (await storefront.complete(admin, cart["id"]))["order"]
    placed = datetime.fromisoformat(order["created_at"].replace("Z", "+00:00"))
    naive = (placed + timedelta(seconds=1)).astimezone(UTC).replace(tzinfo=None).isoformat()
    # The server's zone is five hours ahead of UTC: read in it, the bound would fall before the
    # order was placed and leave it out.
    monkeypatch.setenv("TZ", "Etc/GMT-5")
    time.tzset()
    try:
        body = await storefront.ok(
            await admin.get("/admin/orders", params={"created_before": naive, "limit": 1000})
        )
    finally:
        monkeypatch.undo()
        time.tzset()
    assert order["id"] in {o["id"] for o in body["orders"]}


async def test_admin_order_by_id(admin: httpx.AsyncClient) -> None:
    cart = await storefront.ready_cart(admin)
    order_id = (await storefront.complete(admin, cart["id"]))["order"]["id"]
    body = await storefront.ok(await admin.get(f"/admin/orders/{order_id}"))
    assert body["order"]["id"] == order_id
    assert (await admin.get("/admin/orders/order_nope")).status_code == 404
