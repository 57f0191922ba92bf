"""What the notification routes share: the caller, path parameters, how a notice is shown."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path

from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.tables import InboxNotice, utc
from services.notification.service_layer.documents import document_of
from shared.auth.dependencies import Authenticate

RecipientCode = Annotated[str, Path(pattern=r"^([0-9]{6}|[0-9]{9})$", description="Street (9) or district (6) code")]
NoticeId = Annotated[str, Path(max_length=36, description="The notice's id")]


def caller(authenticate: Authenticate) -> Any:
    """`Annotated[Principal, caller(auth)]` for a route that needs a key."""
    return Depends(authenticate)


def iso(value: Any) -> str | None:
    return utc(value).isoformat() if value else None


def notice_view(notice: InboxNotice, record_link_base: str, sealed: SealedNotices) -> dict[str, Any]:
    """The notice document plus where it stands."""
    return {
        **document_of(notice, record_link_base, sealed),
        "status": notice.status,
        "delivered_at": iso(notice.delivered_at),
        "acknowledged_at": iso(notice.acknowledged_at),
        "answered_at": iso(notice.answered_at),
        "answer": sealed.answer(notice),
    }
