"""Routing's HTTP edge: decisions, cases, the review queue, and feedback on notices.

Each route parses, calls a use case (service_layer.views, service_layer.feedback)
and answers; every error is raised as a ProblemError and rendered once
(shared.http.problems).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.routing.domain.cases import InvalidAnswer
from services.routing.service_layer import feedback as feedback_use_case
from services.routing.service_layer import views
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.feedback import AnsweredAlready, UnknownNotice
from shared.events import FeedbackResult, RejectionReason
from shared.events.feedback import CORRECTABLE_FIELDS
from shared.http.problems import FieldError, ProblemError, ValidationProblem, pydantic_errors


class Feedback(BaseModel):
    """A recipient's answer to a notice."""

    model_config = ConfigDict(extra="forbid")

    result: FeedbackResult = Field(description="confirmed, corrected, not_found or rejected")
    corrections: dict[str, str] = Field(
        default_factory=dict, description=f"For 'corrected': any of {', '.join(sorted(CORRECTABLE_FIELDS))}"
    )
    reason: RejectionReason | None = Field(default=None, description="For 'rejected': the reason code")
    note: str | None = Field(default=None, max_length=500, description="Free text")


def routing_router(context: RoutingContext) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/decisions/{record_id}", tags=["decisions"])
    async def read_decision(record_id: str) -> dict[str, Any]:
        if (decision := await views.decision(context, record_id)) is None:
            raise ProblemError(404, "Not Found", "No routing decision for this record (yet).")
        return decision

    @router.get("/cases/{record_id}", tags=["cases"])
    async def read_case(record_id: str) -> dict[str, Any]:
        """A case's status, version and notices, without the person's details."""
        if (case := await views.case(context, record_id)) is None:
            raise ProblemError(404, "Not Found", "No case for this record (yet).")
        return case

    @router.get("/review", tags=["review"])
    async def list_review(limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, object]:
        """Records whose codes are unknown or retired, waiting for the bureau, oldest first."""
        return {"items": await views.review_queue(context, limit=limit)}

    @router.post("/notices/{notice_id}/feedback", status_code=202, tags=["notices"])
    async def give_feedback(notice_id: str, feedback: Feedback) -> dict[str, str]:
        with _feedback_problems():
            envelope = await feedback_use_case.give_feedback(context, notice_id, **feedback.model_dump())
        return {"status": "accepted", "event_id": str(envelope.event_id)}

    return router


@contextlib.contextmanager
def _feedback_problems() -> Iterator[None]:
    """The feedback use case's refusals as problem documents."""
    try:
        yield
    except UnknownNotice as error:
        raise ProblemError(404, "Not Found", "No notice with this id.") from error
    except AnsweredAlready as error:
        raise ProblemError(409, "Conflict", str(error)) from error
    except ValidationError as error:
        raise ValidationProblem(pydantic_errors(list(error.errors()), strip=0)) from error
    except InvalidAnswer as error:
        raise ValidationProblem([FieldError.at(("corrections",), str(error))]) from error
