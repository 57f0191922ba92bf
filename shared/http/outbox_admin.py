"""GET /v1/admin/outbox/set-aside and the two things an admin can do with a set-aside row.

Mounted by every service with an outbox (intake, notification); admin keys
only. A set-aside row holds back the later rows of its person key (the rule
in shared.db.outbox): `retry` puts it back in line, `discard` gives it up.
"""

# No `from __future__ import annotations`: FastAPI must see the closure-local `Caller` alias.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from shared.auth import Principal
from shared.auth.dependencies import Authenticate, require
from shared.auth.scopes import Action
from shared.db.outbox_set_aside import SetAsideRows
from shared.http.problems import ProblemError

RowId = Annotated[int, Path(ge=1, le=2**62, description="The outbox row's id")]


def outbox_admin_router(*, authenticate: Authenticate, rows: SetAsideRows) -> APIRouter:
    router = APIRouter(prefix="/v1/admin/outbox", tags=["admin"])
    Caller = Annotated[Principal, Depends(authenticate)]

    @router.get("/set-aside")
    async def list_set_aside(
        principal: Caller,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        discarded: Annotated[bool, Query(description="List the discarded rows instead")] = False,
    ) -> dict[str, Any]:
        """Rows that could not be published, oldest first, with their error and how many rows they hold back."""
        require(principal, Action.ADMINISTER)
        return {"rows": await rows.rows(limit=limit, discarded=discarded)}

    @router.post("/set-aside/{row_id}/retry")
    async def retry(row_id: RowId, principal: Caller) -> dict[str, Any]:
        require(principal, Action.ADMINISTER)
        if not await rows.retry(row_id):
            raise ProblemError(404, "Not Found", "No set-aside outbox row with this id.")
        return {"id": row_id, "state": "pending"}

    @router.post("/set-aside/{row_id}/discard")
    async def discard(row_id: RowId, principal: Caller) -> dict[str, Any]:
        require(principal, Action.ADMINISTER)
        if not await rows.discard(row_id):
            raise ProblemError(404, "Not Found", "No set-aside outbox row with this id.")
        return {"id": row_id, "state": "discarded"}

    return router
