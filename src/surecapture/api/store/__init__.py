"""The Store API: every route checks the publishable key first."""

from fastapi import APIRouter, Depends

from surecapture.api.deps import get_scope
from surecapture.api.store import carts, catalog, orders, payments, shipping

router = APIRouter(prefix="/store", dependencies=[Depends(get_scope)])
for module in (catalog, carts, shipping, payments, orders):
    router.include_router(module.router)
