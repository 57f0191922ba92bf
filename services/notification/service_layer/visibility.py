"""Scope at the door of every use case: what lies outside it is answered 404, as if it did not exist."""

from __future__ import annotations

from services.notification.adapters.inbox import Inbox
from services.notification.adapters.tables import InboxNotice
from services.notification.domain.access import may_see
from shared.auth import Principal
from shared.http.problems import ProblemError


def require_in_scope(principal: Principal, recipient_code: str, *, what: str) -> None:
    """404 "No <what> with this code in your scope" unless the caller covers `recipient_code`."""
    if not may_see(principal, recipient_code):
        raise ProblemError(404, "Not Found", f"No {what} with this code in your scope.")


async def visible_notice(inbox: Inbox, principal: Principal, notice_id: str) -> InboxNotice:
    """The notice, if it exists and the caller may see it; the same 404 otherwise."""
    notice = await inbox.get(notice_id)
    if notice is None or not may_see(principal, notice.recipient_code):
        raise ProblemError(404, "Not Found", "No notice with this id in your scope.")
    return notice
