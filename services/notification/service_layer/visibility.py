"""Role and scope at the door of every use case: a role that may not act is 403; what lies outside
the scope is answered 404, as if it did not exist."""

from __future__ import annotations

from collections.abc import Callable

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
    _in_scope(principal, action)(notice)
    assert notice is not None  # _in_scope refused a missing notice
    return notice


def notice_in_scope(principal: Principal, action: Action) -> Callable[[InboxNotice | None], None]:
    """403 at once for a role that may not `action`; then the check an adapter runs on the notice it read (and
    locked) in the action's own transaction: 404 unless it exists and the caller may `action` it."""
    require(principal, action)
    return _in_scope(principal, action)


def _in_scope(principal: Principal, action: Action) -> Callable[[InboxNotice | None], None]:
    def check(notice: InboxNotice | None) -> None:
        if notice is None or not may_see(principal, notice.recipient_code, action):
            raise ProblemError(404, "Not Found", "No notice with this id in your scope.")

    return check
