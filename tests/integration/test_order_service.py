import asyncio

import httpx

from surecapture.context import Context
from tests import storefront


async def placed_order(client: httpx.AsyncClient) -> str:
    cart = await storefront.ready_cart(client)
    return str((await storefront.complete(client, cart["id"]))["order"]["id"])


async def test_concurrent_metadata_merges_lose_nothing(
    client: httpx.AsyncClient, context: Context
) -> None:
    order_id = await placed_order(client)
    await asyncio.gather(
        *(
            context.orders.update_orders([{"id": order_id, "metadata": {f"k{i}": i}}])
            for i in range(50)
        )
    )
    order = await context.orders.get(order_id)
    assert order.metadata_ == {f"k{i}": i for i in range(50)}


async def test_merge_keeps_other_keys_and_none_removes(
    client: httpx.AsyncClient, context: Context
) -> None:
    order_id = await placed_order(client)
    await context.orders.update_orders([{"id": order_id, "metadata": {"source": "web", "n": 1}}])
    await context.orders.update_orders(
        [{"id": order_id, "metadata": {"needs_recovery": True, "recovery_reason": "redis_failure"}}]
    )
    order = await context.orders.get(order_id)
    assert order.metadata_ == {
        "source": "web",
        "n": 1,
        "needs_recovery": True,
        "recovery_reason": "redis_failure",
    }
    await context.orders.update_orders(
        [{"id": order_id, "metadata": {"needs_recovery": None, "recovery_reason": None}}]
    )
    assert (await context.orders.get(order_id)).metadata_ == {"source": "web", "n": 1}


async def test_batch_update_touches_each_order_and_counts_found(
    client: httpx.AsyncClient, context: Context
) -> None:
    first, second = await placed_order(client), await placed_order(client)
    found = await context.orders.update_orders(
        [
            {"id": first, "metadata": {"a": 1}},
            {"id": second, "metadata": {"b": 2}},
            {"id": "order_missing", "metadata": {"c": 3}},
        ]
    )
    assert found == 2
    assert (await context.orders.get(first)).metadata_ == {"a": 1}
    assert (await context.orders.get(second)).metadata_ == {"b": 2}
