"""Routing's HTTP edge: decisions, cases and the review queue; every route needs a key.

Reads are scoped like the other services (service_layer/views.py): a case
outside the caller's scope is answered 404, as if it did not exist. Answers
to notices are given at notification, the one door for feedback; they reach
routing as NoticeAnswered events.
"""

# No `from __future__ import annotations`: FastAPI must see the closure-local `Caller` alias.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from services.routing.service_layer import views
from services.routing.service_layer.context import RoutingContext
from shared.auth import Action, Principal
from shared.auth.dependencies import Authenticate, require
from shared.http.problems import ProblemError

RecordId = Annotated[str, Path(max_length=36, description="The record's id")]


def routing_router(context: RoutingContext, authenticate: Authenticate) -> APIRouter:
    router = APIRouter(prefix="/v1")
    Caller = Annotated[Principal, Depends(authenticate)]

    @router.get("/decisions/{record_id}", tags=["decisions"])
    async def read_decision(record_id: RecordId, principal: Caller) -> dict[str, Any]:
        require(principal, Action.READ)
        if (decision := await views.decision(context, principal, record_id)) is None:
            raise ProblemError(404, "Not Found", "No routing decision for this record in your scope (yet).")
        return decision

    @router.get("/cases/{record_id}", tags=["cases"])
    async def read_case(record_id: RecordId, principal: Caller) -> dict[str, Any]:
        """A case's status, version and notices, without the person's details."""
        require(principal, Action.READ)
        if (case := await views.case(context, principal, record_id)) is None:
            raise ProblemError(404, "Not Found", "No case for this record in your scope (yet).")
        return case

    @router.get("/review", tags=["review"])
    async def list_review(principal: Caller, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, object]:
        """Records of the caller's district whose codes are unknown or retired, waiting for the bureau."""
        require(principal, Action.SUPERVISE)
        return {"items": await views.review_queue(context, principal, limit=limit)}

    return router
