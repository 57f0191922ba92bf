"""What the notification routes share: the caller, visibility, how a notice is shown."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path

from services.notification.adapters.inbox import Inbox
from services.notification.adapters.tables import InboxNotice, utc
from services.notification.domain.access import may_see
from services.notification.service_layer.documents import document_of
from shared.auth import Principal
from shared.auth.dependencies import Authenticate

RecipientCode = Annotated[str, Path(pattern=r"^(\d{6}|\d{9})$", description="Street (9) or district (6) code")]
NoticeId = Annotated[str, Path(max_length=36, description="The notice's id")]


def caller(authenticate: Authenticate) -> Any:
    """`Annotated[Principal, caller(auth)]` for a route that needs a key."""
    return Depends(authenticate)


def acting_code(principal: Principal) -> str:
    """The office behind a key, as recorded in acknowledgements and answers."""
    return principal.scope.code or "admin"


def hidden() -> HTTPException:
    return HTTPException(404, "No notice with this id in your scope.")


async def visible_notice(inbox: Inbox, principal: Principal, notice_id: str) -> InboxNotice:
    notice = await inbox.get(notice_id)
    if notice is None or not may_see(principal, notice.recipient_code):
        raise hidden()
    return notice


def notice_view(notice: InboxNotice, record_link_base: str) -> dict[str, Any]:
    """The notice document plus where it stands."""
    document = document_of(notice, record_link_base)
    stamps = {"delivered_at": notice.delivered_at, "acknowledged_at": notice.acknowledged_at}
    return {
        **document,
        "status": notice.status,
        **{name: utc(value).isoformat() if value else None for name, value in stamps.items()},
        "answered_at": utc(notice.answered_at).isoformat() if notice.answered_at else None,
        "answer": notice.answer,
    }
