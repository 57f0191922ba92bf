"""GET /v1/audit: who read which records, for admins (Action.ADMINISTER)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from services.intake.adapters.audit import ReadAudit
from services.intake.service_layer.audit import audit_entries
from shared.auth import Action, Principal
from shared.auth.dependencies import Authenticate, require


def audit_router(*, authenticate: Authenticate, audit: ReadAudit) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["audit"])
    Caller = Annotated[Principal, Depends(authenticate)]

    @router.get("/audit")
    async def list_reads(
        principal: Caller,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        require(principal, Action.ADMINISTER)
        entries = await audit_entries(audit, principal, limit=limit, offset=offset)
        return {"entries": entries, "limit": limit, "offset": offset}

    return router
