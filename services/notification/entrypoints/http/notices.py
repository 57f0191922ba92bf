"""Pull: a recipient's inbox, one notice, acknowledging it, answering it."""

# No `from __future__ import annotations`: FastAPI must see the closure-local `Caller` alias.

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.notification.adapters.clock import Clock
from services.notification.adapters.inbox import AlreadyAnswered, Answer, Inbox, InboxFilter
from services.notification.adapters.tables import utc
from services.notification.domain.access import may_see
from services.notification.domain.feedback import feedback_problems
from services.notification.domain.paging import InvalidCursor, Position, decode_cursor, encode_cursor
from services.notification.domain.status import NoticeStatus
from services.notification.entrypoints.http.common import (
    NoticeId,
    RecipientCode,
    acting_code,
    caller,
    notice_view,
    visible_notice,
)
from shared.auth import Principal
from shared.auth.dependencies import Authenticate
from shared.events import FeedbackResult, RejectionReason
from shared.http.problems import FieldError, validation_problem


class Feedback(BaseModel):
    """A recipient's answer to a notice."""

    model_config = ConfigDict(extra="forbid")

    result: FeedbackResult = Field(description="confirmed, corrected, not_found or rejected")
    corrections: dict[str, str] = Field(
        default_factory=dict,
        description='With \'corrected\': the fields that differ, e.g. {"residence_street": "440111008"}',
    )
    reason: RejectionReason | None = Field(default=None, description="With 'rejected': why")
    note: str = Field(default="", max_length=500, description="Free text for the reporting office")


def notices_router(*, inbox: Inbox, authenticate: Authenticate, clock: Clock, record_link_base: str) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["notices"])
    Caller = Annotated[Principal, caller(authenticate)]

    @router.get("/inbox/{recipient_code}")
    async def list_inbox(
        recipient_code: RecipientCode,
        principal: Caller,
        status: Annotated[NoticeStatus | None, Query(description="Only notices in this status")] = None,
        kind: Annotated[str | None, Query(pattern=r"^[a-z_]{1,20}$", description="Only this kind")] = None,
        since: Annotated[datetime | None, Query(description="Only notices issued at or after this time")] = None,
        cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, object]:
        if not may_see(principal, recipient_code):
            raise HTTPException(404, "No inbox with this code in your scope.")
        try:
            after = decode_cursor(cursor) if cursor else None
        except InvalidCursor as error:
            raise HTTPException(400, str(error)) from error
        where = InboxFilter(recipient_code, status.value if status else None, kind, utc(since) if since else None)
        notices = await inbox.page(where, after=after, limit=limit + 1)
        page, more = notices[:limit], len(notices) > limit
        last = page[-1] if page else None
        return {
            "recipient": recipient_code,
            "notices": [notice_view(n, record_link_base) for n in page],
            "next_cursor": encode_cursor(Position(utc(last.issued_at), last.notice_id)) if more and last else None,
        }

    @router.get("/notices/{notice_id}")
    async def read_notice(notice_id: NoticeId, principal: Caller) -> dict[str, Any]:
        return notice_view(await visible_notice(inbox, principal, notice_id), record_link_base)

    @router.post("/notices/{notice_id}/ack")
    async def acknowledge(notice_id: NoticeId, principal: Caller) -> dict[str, Any]:
        await visible_notice(inbox, principal, notice_id)
        notice = await inbox.acknowledge(notice_id, by=acting_code(principal), now=clock.now())
        assert notice is not None  # it was visible a moment ago, and notices are never deleted
        return notice_view(notice, record_link_base)

    @router.post("/notices/{notice_id}/feedback", status_code=202)
    async def answer(notice_id: NoticeId, feedback: Feedback, principal: Caller) -> JSONResponse:
        await visible_notice(inbox, principal, notice_id)
        problems = feedback_problems(result=feedback.result, corrections=feedback.corrections, reason=feedback.reason)
        if problems:
            return validation_problem([FieldError.at(loc, message) for loc, message in problems])
        given = Answer(feedback.result, feedback.corrections, feedback.reason, feedback.note, acting_code(principal))
        try:
            event = await inbox.answer(notice_id, given, now=clock.now())
        except AlreadyAnswered as error:
            raise HTTPException(409, "This notice has already been answered; an answer cannot be changed.") from error
        assert event is not None
        body = {"notice_id": notice_id, "result": event.result.value, "answered_at": event.answered_at.isoformat()}
        return JSONResponse(body, status_code=202)

    return router
