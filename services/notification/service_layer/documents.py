"""The one place a stored notice becomes the document a recipient sees (inbox and webhook alike)."""

from __future__ import annotations

from typing import Any

from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.tables import NoticeView, utc
from services.notification.domain.payload import notice_document
from shared.notice_grants import grant_for


def document_of(
    notice: NoticeView, record_link_base: str, sealed: SealedNotices, *, person: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Only what the recipient needs, the person opened (unless given); times in UTC whatever the store returned."""
    link = None  # a partner's notice names a record the partner keeps: nothing here to open, so no link to follow
    if not notice.from_partner:
        grant = grant_for(
            sealed.keyring, notice_id=notice.notice_id, record_id=notice.record_id, recipient_code=notice.recipient_code
        )
        link = f"{record_link_base}{notice.record_id}?notice={notice.notice_id}&grant={grant}"
    return notice_document(
        notice_id=notice.notice_id,
        record_id=notice.record_id,
        recipient_code=notice.recipient_code,
        route=notice.route,
        kind=notice.kind,
        reason=notice.reason,
        person=person if person is not None else sealed.person(notice),
        issued_at=utc(notice.issued_at),
        # the notice and its grant in the link let the recipient open a record reported by another office,
        # the moment the link arrives (shared.notice_grants)
        record_link=link,
        answer_expected=notice.answer_expected,
        answer_due=utc(notice.answer_due) if notice.answer_due else None,
    )
