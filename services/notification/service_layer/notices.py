"""Pull: a recipient's inbox, one notice, acknowledging it, answering it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.notification.adapters.inbox import AlreadyAnswered, Answer, Inbox, InboxFilter
from services.notification.adapters.tables import InboxNotice, utc
from services.notification.domain.access import acting_code
from services.notification.domain.feedback import correction_code_problems, feedback_problems
from services.notification.domain.paging import InvalidCursor, Position, decode_cursor, encode_cursor
from services.notification.domain.status import NoticeStatus
from services.notification.service_layer.visibility import notice_in_scope, require_in_scope, visible_notice
from shared.auth import Action, Principal
from shared.clock import Clock
from shared.directory import DivisionDirectory
from shared.events import FeedbackResult, NoticeAnswered, RejectionReason
from shared.http.problems import FieldError, ProblemError, ValidationProblem


@dataclass(frozen=True, slots=True)
class InboxQuery:
    status: NoticeStatus | None = None
    kind: str | None = None
    since: datetime | None = None
    cursor: str | None = None  # next_cursor of the previous page
    limit: int = 100


@dataclass(frozen=True, slots=True)
class InboxPage:
    notices: list[InboxNotice]
    next_cursor: str | None


class Notices:
    def __init__(self, inbox: Inbox, clock: Clock, directory: DivisionDirectory) -> None:
        self._inbox, self._clock, self._directory = inbox, clock, directory

    async def page(self, principal: Principal, recipient_code: str, query: InboxQuery) -> InboxPage:
        """Newest first; `next_cursor` is set only when more notices follow."""
        require_in_scope(principal, recipient_code, what="inbox")
        after = _position(query.cursor)
        status = query.status.value if query.status else None
        where = InboxFilter(recipient_code, status, query.kind, utc(query.since) if query.since else None)
        notices = await self._inbox.page(where, after=after, limit=query.limit + 1)
        page, more = notices[: query.limit], len(notices) > query.limit
        last = page[-1] if page else None
        return InboxPage(page, encode_cursor(Position(utc(last.issued_at), last.notice_id)) if more and last else None)

    async def read(self, principal: Principal, notice_id: str) -> InboxNotice:
        return await visible_notice(self._inbox, principal, notice_id)

    async def acknowledge(self, principal: Principal, notice_id: str) -> InboxNotice:
        in_scope = notice_in_scope(principal, Action.ANSWER)
        notice = await self._inbox.acknowledge(
            notice_id, by=acting_code(principal), now=self._clock.now(), check=in_scope
        )
        assert notice is not None  # the check refused a missing notice
        return notice

    async def answer(
        self,
        principal: Principal,
        notice_id: str,
        *,
        result: FeedbackResult,
        corrections: dict[str, Any],
        reason: RejectionReason | None,
        note: str,
    ) -> NoticeAnswered:
        """The published answer; 403 for a role that may not answer, 404 for a notice out of scope, then 422
        listing every broken rule, then 409 when the notice has an answer.

        The notice is read and checked once (round 61 read it twice); the answer is written only on a notice
        without one (Inbox.answer), so two clerks at once make one answer and one 409."""
        in_scope = notice_in_scope(principal, Action.ANSWER)
        problems = feedback_problems(result=result, corrections=corrections, reason=reason)
        problems += correction_code_problems(corrections, self._directory)

        def check(notice: InboxNotice | None) -> None:
            in_scope(notice)
            if problems:
                raise ValidationProblem([FieldError.at(location, message) for location, message in problems])

        given = Answer(result, corrections, reason, note, acting_code(principal))
        try:
            event = await self._inbox.answer(notice_id, given, now=self._clock.now(), check=check)
        except AlreadyAnswered as error:
            detail = "This notice has already been answered; an answer cannot be changed."
            raise ProblemError(409, "Conflict", detail) from error
        assert event is not None  # the check refused a missing notice
        return event


def _position(cursor: str | None) -> Position | None:
    try:
        return decode_cursor(cursor) if cursor else None
    except InvalidCursor as error:
        raise ProblemError(400, "Bad Request", str(error)) from error
