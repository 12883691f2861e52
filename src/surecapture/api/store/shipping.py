"""Shipping options for a cart."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from surecapture.api.deps import ContextDep
from surecapture.api.views import shipping_option_view
from surecapture.services import carts, catalog

router = APIRouter(tags=["store: shipping"])


@router.get("/shipping-options")
async def list_cart_options(
    context: ContextDep,
    cart_id: str,
    is_return: bool | None = None,
    fields: str | None = None,
    limit: Annotated[int, Query(ge=0, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> dict[str, Any]:
    async with context.db() as session:
        cart = await carts.load_cart(session, cart_id)
        options = await catalog.shipping_options_for(session, cart)
        return {
            "shipping_options": [
                shipping_option_view(o, cart.currency_code)
                for o in options[offset : offset + limit]
            ]
        }
