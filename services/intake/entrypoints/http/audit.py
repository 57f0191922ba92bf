"""GET /v1/audit: who read which records, for the bureau and admins."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from services.intake.adapters.audit import ReadAudit
from shared.auth import Principal
from shared.auth.dependencies import Authenticate
from shared.http.problems import problem


def audit_router(*, authenticate: Authenticate, audit: ReadAudit) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["audit"])
    Caller = Annotated[Principal, Depends(authenticate)]

    @router.get("/audit")
    async def list_reads(
        principal: Caller,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> JSONResponse:
        if not principal.is_bureau:
            return problem(403, "Forbidden", "Only district and admin keys may read the audit.")
        rows = await audit.visible_to(principal, limit=limit, offset=offset)
        entries = [
            {
                "key_id": row.key_id,
                "scope": row.scope,
                "action": row.action,
                "purpose": row.purpose,
                "record_ids": row.record_ids,
                "read_at": row.read_at.isoformat(),
            }
            for row in rows
        ]
        return JSONResponse({"entries": entries, "limit": limit, "offset": offset})

    return router
