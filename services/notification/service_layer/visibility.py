"""Role and scope at the door of every use case: a role that may not act is 403; what lies outside
the scope is answered 404, as if it did not exist."""

from __future__ import annotations

from services.notification.adapters.inbox import Inbox
from services.notification.adapters.tables import InboxNotice
from services.notification.domain.access import may_see
from shared.auth import Action, Principal
from shared.auth.dependencies import require
from shared.http.problems import ProblemError


def require_in_scope(principal: Principal, recipient_code: str, *, what: str, action: Action = Action.READ) -> None:
    """403 unless the role allows `action`; 404 "No <what> with this code in your scope" unless the
    caller covers `recipient_code`."""
    require(principal, action)
    if not may_see(principal, recipient_code, action):
        raise ProblemError(404, "Not Found", f"No {what} with this code in your scope.")


async def visible_notice(
    inbox: Inbox, principal: Principal, notice_id: str, *, action: Action = Action.READ
) -> InboxNotice:
    """The notice, if it exists and the caller may `action` it; 403 for a role that may not; 404 otherwise."""
    require(principal, action)
    notice = await inbox.get(notice_id)
    if notice is None or not may_see(principal, notice.recipient_code, action):
        raise ProblemError(404, "Not Found", "No notice with this id in your scope.")
    return notice
