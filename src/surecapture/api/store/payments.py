"""Payment providers, collections and sessions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from surecapture.api.deps import ContextDep
from surecapture.api.schemas import PaymentCollectionIn, PaymentSessionIn
from surecapture.api.views import collection_view
from surecapture.services import catalog, payment_collections

router = APIRouter(tags=["store: payment"])


@router.get("/payment-providers")
async def list_providers(
    context: ContextDep,
    region_id: str,
    limit: Annotated[int, Query(ge=0, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    fields: str | None = None,
) -> dict[str, Any]:
    async with context.db() as session:
        await catalog.get_region(session, region_id)
    ids = context.providers.ids()
    return {
        "payment_providers": [{"id": i, "is_enabled": True} for i in ids[offset : offset + limit]],
        "count": len(ids),
        "offset": offset,
        "limit": limit,
    }


async def _collection_response(context: ContextDep, collection_id: str) -> dict[str, Any]:
    async with context.db() as session:
        collection = await payment_collections.load_collection(session, collection_id)
        return {"payment_collection": collection_view(collection)}


@router.post("/payment-collections")
async def create_collection(
    body: PaymentCollectionIn, context: ContextDep, fields: str | None = None
) -> dict[str, Any]:
    collection_id = await payment_collections.create_collection(context.db, body.cart_id)
    return await _collection_response(context, collection_id)


@router.post("/payment-collections/{collection_id}/payment-sessions")
async def create_session(
    collection_id: str, body: PaymentSessionIn, context: ContextDep, fields: str | None = None
) -> dict[str, Any]:
    await payment_collections.create_session(
        context.db,
        context.providers,
        collection_id,
        provider_id=body.provider_id,
        data=body.data,
        context=body.context,
    )
    return await _collection_response(context, collection_id)
