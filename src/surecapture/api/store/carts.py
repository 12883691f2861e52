"""Carts, line items, shipping methods and `complete`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from surecapture import metrics
from surecapture.api.deps import ContextDep, ScopeDep
from surecapture.api.schemas import (
    CartCreate,
    CartUpdate,
    ItemIn,
    LineItemUpdate,
    ShippingMethodIn,
    cart_fields,
)
from surecapture.api.views import cart_view, order_view
from surecapture.context import Context
from surecapture.services import carts, checkout, modification_tokens

router = APIRouter(prefix="/carts", tags=["store: carts"])


async def cart_response(context: Context, cart_id: str) -> dict[str, Any]:
    async with context.db() as session:
        return {"cart": cart_view(await carts.load_cart(session, cart_id))}


@router.post("")
async def create_cart(
    context: ContextDep, scope: ScopeDep, body: CartCreate | None = None, fields: str | None = None
) -> dict[str, Any]:
    cart_id = await carts.create_cart(context.db, scope, cart_fields(body or CartCreate()))
    return await cart_response(context, cart_id)


@router.get("/{cart_id}")
async def get_cart(cart_id: str, context: ContextDep, fields: str | None = None) -> dict[str, Any]:
    return await cart_response(context, cart_id)


@router.post("/{cart_id}")
async def update_cart(
    cart_id: str,
    context: ContextDep,
    scope: ScopeDep,
    body: CartUpdate | None = None,
    fields: str | None = None,
) -> dict[str, Any]:
    await carts.update_cart(context.db, scope, cart_id, cart_fields(body or CartUpdate()))
    return await cart_response(context, cart_id)


@router.post("/{cart_id}/line-items")
async def add_line_item(
    cart_id: str, body: ItemIn, context: ContextDep, fields: str | None = None
) -> dict[str, Any]:
    item = carts.ItemInput(body.variant_id, body.quantity, body.metadata)
    await carts.add_line_item(context.db, cart_id, item)
    return await cart_response(context, cart_id)


@router.post("/{cart_id}/line-items/{line_id}")
async def update_line_item(
    cart_id: str, line_id: str, body: LineItemUpdate, context: ContextDep, fields: str | None = None
) -> dict[str, Any]:
    await carts.update_line_item(
        context.db, cart_id, line_id, quantity=body.quantity, metadata=body.metadata
    )
    return await cart_response(context, cart_id)


@router.delete("/{cart_id}/line-items/{line_id}")
async def delete_line_item(
    cart_id: str, line_id: str, context: ContextDep, fields: str | None = None
) -> dict[str, Any]:
    await carts.delete_line_item(context.db, cart_id, line_id)
    cart = await cart_response(context, cart_id)
    return {"id": line_id, "object": "line-item", "deleted": True, "parent": cart["cart"]}


@router.post("/{cart_id}/shipping-methods")
async def add_shipping_method(
    cart_id: str, body: ShippingMethodIn, context: ContextDep, fields: str | None = None
) -> dict[str, Any]:
    await carts.add_shipping_method(context.db, cart_id, body.option_id, body.data)
    return await cart_response(context, cart_id)


@router.post("/{cart_id}/complete")
async def complete_cart(
    cart_id: str, context: ContextDep, fields: str | None = None
) -> dict[str, Any]:
    with metrics.CHECKOUT_SECONDS.time():
        result = await checkout.complete_cart(
            context.db, context.providers, context.bus, cart_id, capture_delay=context.capture_delay
        )
    if isinstance(result, checkout.PaymentFailed):
        cart = await cart_response(context, cart_id)
        return {
            "type": "cart",
            "cart": cart["cart"],
            "error": {"message": result.message, "name": "Error", "type": result.type},
        }
    order = result.order or await context.orders.get(result.order_id)
    body: dict[str, Any] = {"type": "order", "order": order_view(order)}
    if result.created:
        # Handed out once, to the caller who placed the order: it allows a cancel until capture.
        key = await context.modification_key()
        body["modification_token"] = modification_tokens.issue(key, order.id, order.capture_due_at)
    return body
