"""The street office's page: a clerk's session, the inbox in piles, answers, the sheet, the weekly report.

Answers go through `Notices.answer`, the same use case as the API's feedback
route: the same scope check, the same rules, the same NoticeAnswered event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from services.notification.adapters.inbox import Inbox
from services.notification.adapters.office_sessions import OfficeSessions
from services.notification.adapters.office_sheet import open_notices_xlsx
from services.notification.adapters.reporting_client import ReportingClient, SubmitAnswer
from services.notification.adapters.tables import InboxNotice
from services.notification.domain.office import Sections, read_answer_form, report_week_of, sections
from services.notification.service_layer.notices import InboxQuery, Notices
from shared.auth import Action, Principal
from shared.auth.scopes import ScopeKind
from shared.auth.store import KeyStore
from shared.clock import Clock
from shared.events import NoticeAnswered
from shared.http.problems import FieldError, ValidationProblem

PAGE_LIMIT = 500  # a street's inbox of a campaign fits; older notices stay reachable through the API


@dataclass(frozen=True, slots=True)
class Clerk:
    principal: Principal
    street: str
    key: str
    csrf_token: str


@dataclass(frozen=True, slots=True)
class Desk:
    """What the page needs, built once by the composition root."""

    notices: Notices
    inbox: Inbox
    sessions: OfficeSessions
    keys: KeyStore
    reporting: ReportingClient
    clock: Clock
    zone: ZoneInfo

    async def log_in(self, key: str) -> str | None:
        """A session token for an active street office key, else None (nothing says which check failed)."""
        principal = await self.keys.authenticate(key) if key else None
        if principal is None or principal.scope.kind is not ScopeKind.STREET:
            return None
        if not principal.may(Action.ANSWER, principal.scope.code):
            return None
        return await self.sessions.open(street=principal.scope.code, key=key, now=self.clock.now())

    async def clerk(self, token: str) -> Clerk | None:
        """The clerk behind a session cookie, with the key checked again (a revoked key ends the session)."""
        found = await self.sessions.find(token, now=self.clock.now()) if token else None
        principal = await self.keys.authenticate(found.key) if found else None
        if found is None or principal is None:
            return None
        return Clerk(principal, found.street, found.key, found.csrf_token)

    async def log_out(self, token: str) -> None:
        await self.sessions.close(token)

    async def piles(self, clerk: Clerk) -> Sections[InboxNotice]:
        page = await self.notices.page(clerk.principal, clerk.street, InboxQuery(limit=PAGE_LIMIT))
        return sections(page.notices)

    async def notice(self, clerk: Clerk, notice_id: str) -> InboxNotice:
        return await self.notices.read(clerk.principal, notice_id)

    async def answer(self, clerk: Clerk, notice_id: str, form: Mapping[str, str]) -> NoticeAnswered:
        """The API's answer path; problems of the form itself are reported the same way (422)."""
        given = read_answer_form(form)
        if given.result is None:
            raise ValidationProblem([FieldError.at(("result",), "choose confirmed, corrected, not found or rejected")])
        return await self.notices.answer(
            clerk.principal,
            notice_id,
            result=given.result,
            corrections=given.corrections,
            reason=given.reason,
            note=given.note,
        )

    async def open_sheet(self, clerk: Clerk) -> bytes:
        return open_notices_xlsx((await self.piles(clerk)).open, self.zone)

    def week_due(self) -> tuple[str, datetime]:
        return report_week_of(self.clock.now(), self.zone)

    async def submit_week(self, clerk: Clerk, week: str) -> SubmitAnswer:
        return await self.reporting.submit_week(key=clerk.key, street=clerk.street, week=week)
