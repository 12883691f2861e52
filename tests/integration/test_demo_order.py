"""The storefront walk behind `surecapture place-order` names what the store lacks instead of
failing with an IndexError."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from surecapture.config import Settings
from surecapture.db.engine import build_engine, build_sessionmaker
from surecapture.db.models import ShippingOption
from surecapture.demo_order import DemoOrderError, ready_cart
from tests.apps import running_app


async def test_a_store_without_shipping_options_is_named(
    settings: Settings, publishable_key: str, fresh_database_url: str
) -> None:
    engine = build_engine(fresh_database_url, pool_size=1)
    async with build_sessionmaker(engine).begin() as session:
        await session.execute(delete(ShippingOption))
    await engine.dispose()
    own = settings.model_copy(update={"database_url": fresh_database_url})
    async with running_app(own, publishable_key) as (client, _):
        with pytest.raises(DemoOrderError) as failure:
            await ready_cart(client)
    assert str(failure.value) == "shipping options: none in the store (run `surecapture seed`)"
