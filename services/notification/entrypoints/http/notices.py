"""Pull: a recipient's inbox, one notice, acknowledging it, answering it."""

# No `from __future__ import annotations`: FastAPI must see the closure-local `Caller` alias.

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.tables import utc
from services.notification.domain.status import NoticeStatus
from services.notification.entrypoints.http.common import NoticeId, RecipientCode, caller, notice_view
from services.notification.service_layer.notices import InboxQuery, Notices
from shared.auth import Principal
from shared.auth.dependencies import Authenticate
from shared.events import FeedbackResult, RejectionReason
from shared.events.feedback import CORRECTABLE_FIELDS


def _kept(moment: datetime) -> datetime:
    """The time in UTC, as the store keeps it; year 1 east of UTC or year 9999 west of it has none."""
    try:
        return utc(moment)
    except OverflowError:
        raise ValueError("lies outside the years a time can be kept in") from None


# with its offset: `2027-02-24T10:30:00` is 10:30 in Beijing or 18:30 there, read as UTC, and a page asked
# `since` it would leave out the eight hours between (a 422 naming the field, as at every other edge)
KeptTime = Annotated[AwareDatetime, AfterValidator(_kept)]


class Feedback(BaseModel):
    """A recipient's answer to a notice."""

    model_config = ConfigDict(extra="forbid")

    result: FeedbackResult = Field(description="confirmed, corrected, not_found or rejected")
    corrections: dict[str, Annotated[str, Field(max_length=200)]] = Field(
        default_factory=dict,
        max_length=len(CORRECTABLE_FIELDS),
        description='With \'corrected\': the fields that differ, e.g. {"residence_street": "440111008"}; '
        "name 1-50 characters, addresses at most 200, codes 6 or 9 digits (the NoticeAnswered contract)",
    )
    reason: RejectionReason | None = Field(default=None, description="With 'rejected': why")
    note: str = Field(default="", max_length=500, description="Free text for the reporting office")


def notices_router(
    *, notices: Notices, authenticate: Authenticate, record_link_base: str, sealed: SealedNotices
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["notices"])
    Caller = Annotated[Principal, caller(authenticate)]

    @router.get("/inbox/{recipient_code}")
    async def list_inbox(
        recipient_code: RecipientCode,
        principal: Caller,
        status: Annotated[NoticeStatus | None, Query(description="Only notices in this status")] = None,
        kind: Annotated[str | None, Query(pattern=r"^[a-z_]{1,20}$", description="Only this kind")] = None,
        since: Annotated[
            KeptTime | None, Query(description="Only notices issued at or after this time, with its offset")
        ] = None,
        cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, object]:
        page = await notices.page(principal, recipient_code, InboxQuery(status, kind, since, cursor, limit))
        return {
            "recipient": recipient_code,
            "notices": [notice_view(n, record_link_base, sealed) for n in page.notices],
            "next_cursor": page.next_cursor,
        }

    @router.get("/notices/{notice_id}")
    async def read_notice(notice_id: NoticeId, principal: Caller) -> dict[str, Any]:
        return notice_view(await notices.read(principal, notice_id), record_link_base, sealed)

    @router.post("/notices/{notice_id}/ack")
    async def acknowledge(notice_id: NoticeId, principal: Caller) -> dict[str, Any]:
        return notice_view(await notices.acknowledge(principal, notice_id), record_link_base, sealed)

    @router.post("/notices/{notice_id}/feedback", status_code=202)
    async def answer(notice_id: NoticeId, feedback: Feedback, principal: Caller) -> dict[str, Any]:
        event = await notices.answer(
            principal,
            notice_id,
            result=feedback.result,
            corrections=feedback.corrections,
            reason=feedback.reason,
            note=feedback.note,
        )
        return {"notice_id": notice_id, "result": event.result.value, "answered_at": event.answered_at.isoformat()}

    return router
