"""The admin API: bearer `ADMIN_API_TOKEN` on every route."""

from fastapi import APIRouter, Depends

from surecapture.api.admin import jobs, orders
from surecapture.api.deps import require_admin

router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin)])
router.include_router(orders.router)
router.include_router(jobs.router)
