"""Regions and products."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from surecapture.api.deps import ContextDep, ScopeDep
from surecapture.api.views import product_view, region_view
from surecapture.errors import InvalidData, NotFound
from surecapture.services import catalog

router = APIRouter(tags=["store: catalog"])

Limit = Annotated[int, Query(ge=0, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]


@router.get("/regions")
async def list_regions(
    context: ContextDep, limit: Limit = 50, offset: Offset = 0, fields: str | None = None
) -> dict[str, Any]:
    async with context.db() as session:
        regions, count = await catalog.list_regions(session, limit=limit, offset=offset)
        return {
            "regions": [region_view(r) for r in regions],
            "count": count,
            "offset": offset,
            "limit": limit,
        }


@router.get("/regions/{region_id}")
async def get_region(
    region_id: str, context: ContextDep, fields: str | None = None
) -> dict[str, Any]:
    async with context.db() as session:
        return {"region": region_view(await catalog.get_region(session, region_id))}


MAX_LIST_PARAM = 1000


def _list_param(request: Request, name: str) -> list[str]:
    """`id=a&id=b` and qs's `id[0]=a&id[1]=b` alike; at most MAX_LIST_PARAM values (more would
    outgrow what one database statement can take)."""
    values = request.query_params.getlist(name)
    values += [v for k, v in request.query_params.multi_items() if k.startswith(f"{name}[")]
    if len(values) > MAX_LIST_PARAM:
        raise InvalidData(
            f"Invalid request: at most {MAX_LIST_PARAM} values for field '{name}', got {len(values)}"
        )
    return values


@router.get("/products")
async def list_products(
    request: Request,
    context: ContextDep,
    scope: ScopeDep,
    limit: Limit = 50,
    offset: Offset = 0,
    region_id: str | None = None,
    cart_id: str | None = None,
    country_code: str | None = None,
    handle: str | None = None,
    q: str | None = None,
    fields: str | None = None,
) -> dict[str, Any]:
    async with context.db() as session:
        products, count = await catalog.list_products(
            session,
            scope,
            limit=limit,
            offset=offset,
            ids=_list_param(request, "id"),
            handle=handle,
            q=q,
        )
        currency = await _pricing_currency(session, region_id, cart_id, fields)
        with_inventory = "variants.inventory_quantity" in (fields or "")
        return {
            "products": [
                product_view(p, currency=currency, with_inventory=with_inventory) for p in products
            ],
            "count": count,
            "offset": offset,
            "limit": limit,
        }


@router.get("/products/{product_id}")
async def get_product(
    product_id: str,
    context: ContextDep,
    scope: ScopeDep,
    region_id: str | None = None,
    cart_id: str | None = None,
    fields: str | None = None,
) -> dict[str, Any]:
    async with context.db() as session:
        products, _ = await catalog.list_products(
            session, scope, limit=1, offset=0, ids=[product_id], handle=None, q=None
        )
        if not products:
            raise NotFound(f"Product with id: {product_id} was not found")
        currency = await _pricing_currency(session, region_id, cart_id, fields)
        with_inventory = "variants.inventory_quantity" in (fields or "")
        return {
            "product": product_view(products[0], currency=currency, with_inventory=with_inventory)
        }


async def _pricing_currency(
    session: Any, region_id: str | None, cart_id: str | None, fields: str | None
) -> str | None:
    wants_price = region_id is not None or "calculated_price" in (fields or "")
    if not wants_price:
        return None
    region = await catalog.pricing_region(session, region_id=region_id, cart_id=cart_id)
    if region is None:
        raise InvalidData("Missing required pricing context to calculate prices - region_id")
    return region.currency_code
