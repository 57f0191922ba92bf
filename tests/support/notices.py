"""NoticeIssued for tests and benchmarks, valid before and after the contract gained `kind` (v2)
and `answer_expected` (v3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.events import NoticeIssued, NoticePerson, Route
from tests.support.records import id_number


def issued_notice(*, kind: str = "transfer", **fields: Any) -> NoticeIssued:
    """A NoticeIssued; `kind` is set only when the contract has that field."""
    if "kind" in NoticeIssued.model_fields:
        fields["kind"] = kind
    if "answer_expected" in NoticeIssued.model_fields:
        fields.setdefault("answer_expected", kind in ("transfer", "forward"))
    return NoticeIssued(**fields)


def numbered_notice(
    n: int, recipient: str = "440111008", kind: str = "transfer", *, issued_at: datetime | None = None
) -> NoticeIssued:
    """The n-th of a run of cross-street notices: its notice and record ids, and the person, follow from n."""
    return issued_notice(
        kind=kind,
        notice_id=f"00000000-0000-4000-8000-{n:012d}",
        record_id=f"10000000-0000-4000-8000-{n:012d}",
        recipient_code=recipient,
        route=Route.CROSS_STREET,
        reason="person lives in your street; please verify",
        person=NoticePerson(name="张三", id_number=id_number(sequence=n), residence_address="同德路 8 号"),
        issued_at=issued_at or datetime(2026, 2, 25, 2, 30, tzinfo=UTC),
    )


def partner_notice(
    notice_id: str,
    recipient: str,
    kind: str,
    *,
    issued_at: datetime,
    route: Route = Route.INTER_DISTRICT,
    person: int = 7,
) -> NoticeIssued:
    """A notice an exchange partner carries (a forward, by default inter-district); its record id follows its id."""
    return issued_notice(
        kind=kind,
        notice_id=notice_id,
        record_id=notice_id.replace("00000000-", "10000000-", 1),
        recipient_code=recipient,
        route=route,
        reason="please verify",
        person=NoticePerson(name="张三", id_number=id_number(sequence=person), residence_address="五山路 1 号"),
        issued_at=issued_at,
    )
