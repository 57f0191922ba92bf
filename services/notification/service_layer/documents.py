"""The one place a stored notice becomes the document a recipient sees (inbox and webhook alike)."""

from __future__ import annotations

from typing import Any

from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.tables import NoticeView, utc
from services.notification.domain.payload import notice_document


def document_of(
    notice: NoticeView, record_link_base: str, sealed: SealedNotices, *, person: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Only what the recipient needs, the person opened (unless given); times in UTC whatever the store returned."""
    return notice_document(
        notice_id=notice.notice_id,
        record_id=notice.record_id,
        recipient_code=notice.recipient_code,
        route=notice.route,
        kind=notice.kind,
        reason=notice.reason,
        person=person if person is not None else sealed.person(notice),
        issued_at=utc(notice.issued_at),
        # the notice in the link lets its recipient open a record reported by another office
        record_link=f"{record_link_base}{notice.record_id}?notice={notice.notice_id}",
        answer_expected=notice.answer_expected,
        answer_due=utc(notice.answer_due) if notice.answer_due else None,
    )
