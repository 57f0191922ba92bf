"""Routing's HTTP edge: decisions, cases, the review queue, and feedback on notices.

Feedback posted here is published as the same `NoticeAnswered` event the
notification service publishes, so one consumer handles both. What can be
checked at once (the notice exists and is unanswered, the answer is
complete, corrected codes are current) is answered here as a problem
document; the consumer checks again when it applies the answer.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import col, select

from services.routing.adapters import store
from services.routing.adapters.tables import NoticeRow, RoutedRecord
from services.routing.domain.cases import CORRECTABLE, InvalidAnswer
from services.routing.domain.workflow import check_corrections
from services.routing.service_layer.context import RoutingContext
from shared.events import FeedbackResult, NoticeAnswered, RejectionReason, new_envelope
from shared.http.problems import FieldError, problem, pydantic_errors, validation_problem
from shared.kafka.broker import EventPublisher


class Feedback(BaseModel):
    """A recipient's answer to a notice."""

    model_config = ConfigDict(extra="forbid")

    result: FeedbackResult = Field(description="confirmed, corrected, not_found or rejected")
    corrections: dict[str, str] = Field(
        default_factory=dict, description=f"For 'corrected': any of {', '.join(sorted(CORRECTABLE))}"
    )
    reason: RejectionReason | None = Field(default=None, description="For 'rejected': the reason code")
    note: str | None = Field(default=None, max_length=500, description="Free text")


def routing_router(context: RoutingContext, publisher: EventPublisher) -> APIRouter:
    router = APIRouter(prefix="/v1")
    sessions = context.sessions

    @router.get("/decisions/{record_id}", tags=["decisions"])
    async def read_decision(record_id: str) -> JSONResponse:
        async with sessions() as session:
            row = await session.get(RoutedRecord, record_id)
        if row is None:
            return problem(404, "Not Found", "No routing decision for this record (yet).")
        return JSONResponse(row.model_dump(mode="json"))

    @router.get("/cases/{record_id}", tags=["cases"])
    async def read_case(record_id: str) -> JSONResponse:
        """A case's status, version and notices, without the person's details."""
        async with sessions() as session:
            case = await store.load_case(session, record_id)
            query = select(NoticeRow).where(col(NoticeRow.record_id) == record_id).order_by(col(NoticeRow.issued_at))
            notices = list((await session.execute(query)).scalars())
        if case is None:
            return problem(404, "Not Found", "No case for this record (yet).")
        body: dict[str, Any] = {
            "record_id": record_id,
            "status": case.status.value,
            "version": case.version,
            "route": case.route.value,
            "residence_street": case.residence_street,
            "notices": [n.model_dump(mode="json") for n in notices],
        }
        return JSONResponse(body)

    @router.get("/review", tags=["review"])
    async def list_review(limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, object]:
        """Records whose codes are unknown or retired, waiting for the bureau, oldest first."""
        async with sessions() as session:
            items = await store.review_queue(session, limit=limit)
        return {"items": [item.model_dump(mode="json") for item in items]}

    @router.post("/notices/{notice_id}/feedback", status_code=202, tags=["notices"])
    async def give_feedback(notice_id: str, feedback: Feedback) -> JSONResponse:
        async with sessions() as session:
            row = await session.get(NoticeRow, notice_id)
        if row is None:
            return problem(404, "Not Found", "No notice with this id.")
        if row.answered_at is not None:
            return problem(409, "Conflict", f"This notice was answered already ({row.result}).")
        try:
            answered = NoticeAnswered(
                notice_id=notice_id,
                record_id=row.record_id,
                answered_by=row.recipient_code,
                answered_at=context.clock.now(),
                **feedback.model_dump(),
            )
            check_corrections(answered.corrections, context.directory)
        except ValidationError as error:
            return validation_problem(pydantic_errors(list(error.errors()), strip=0))
        except InvalidAnswer as error:
            return validation_problem([FieldError.at(("corrections",), str(error))])
        envelope = new_envelope(answered, producer="routing", correlation_id=row.record_id)
        await publisher.publish(envelope, topic=NoticeAnswered.TOPIC, key=row.record_id)
        return JSONResponse({"status": "accepted", "event_id": str(envelope.event_id)}, status_code=202)

    return router
