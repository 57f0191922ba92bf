"""Routing's HTTP edge: decisions, cases and the review queue; every route needs a key.

Reads are scoped like the other services (service_layer/views.py): a case
outside the caller's scope is answered 404, as if it did not exist. Answers
to notices are given at notification, the one door for feedback; they reach
routing as NoticeAnswered events.
"""

# No `from __future__ import annotations`: FastAPI must see the closure-local `Caller` alias.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.routing.service_layer import reviews, views
from services.routing.service_layer.context import RoutingContext
from shared.auth import Action, Principal
from shared.auth.dependencies import Authenticate, require
from shared.events import Resolution
from shared.events.reviews import STORABLE_TEXT
from shared.http.problems import ProblemError

_TITLES = {404: "Not Found", 409: "Conflict", 422: "Unprocessable Content"}


class ResolutionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: Resolution = Field(description="corrected (give `code`) or dismissed (give `reason`)")
    code: str | None = Field(
        default=None, pattern=r"^([0-9]{6}|[0-9]{9})$", description="The corrected code of the item's field"
    )
    reason: str | None = Field(
        default=None, min_length=1, max_length=300, pattern=STORABLE_TEXT, description="Why it is dismissed"
    )

    @model_validator(mode="after")
    def _details(self) -> "ResolutionBody":
        if self.resolution is Resolution.CORRECTED and self.code is None:
            raise ValueError("a corrected resolution gives `code`")
        if self.resolution is Resolution.DISMISSED and self.reason is None:
            raise ValueError("a dismissed resolution gives `reason`")
        return self


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
    async def list_review(
        principal: Caller,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        resolved: Annotated[bool, Query(description="The resolved items instead of the open ones")] = False,
    ) -> dict[str, object]:
        """Records of the caller's district whose codes are unknown or retired, waiting for the bureau
        (oldest first, each with its age in days and hours)."""
        require(principal, Action.SUPERVISE)
        return {"items": await views.review_queue(context, principal, limit=limit, resolved=resolved)}

    @router.post("/review/{record_id}/resolution", tags=["review"], status_code=202)
    async def resolve_review(record_id: RecordId, body: ResolutionBody, principal: Caller) -> dict[str, object]:
        """Resolve an item: `corrected` with the corrected code of the item's field (the record is routed
        again), or `dismissed` with a reason. Accepted here, applied by routing as the event arrives."""
        require(principal, Action.SUPERVISE)
        try:
            event = await reviews.resolve(
                context, principal, record_id, **body.model_dump(), acting=principal.scope.code or "admin"
            )
        except reviews.ResolutionRefused as refused:
            raise ProblemError(refused.status, _TITLES[refused.status], refused.detail) from None
        return {"record_id": record_id, "resolution": event.resolution.value, "field": event.field}

    return router
