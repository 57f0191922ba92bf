"""A routing case as the domain's tests build it (a person reported by 同德, TONGDE, living at `residence`), and
its recipient's answer to one of its planned notices."""

from __future__ import annotations

from datetime import UTC, datetime

from services.routing.domain.cases import Case, CaseStatus
from services.routing.domain.notices import PlannedNotice
from services.routing.domain.routes import decide_route
from shared.events import EventKind, NoticeAnswered

TONGDE = "440111005"


def routing_case(
    residence: str,
    *,
    status: CaseStatus = CaseStatus.OPEN,
    registration: str = "430102",
    event: EventKind = EventKind.NEW_INFLOW,
    address: str = "新市路 8 号",
) -> Case:
    return Case(
        record_id="r1",
        version=1,
        status=status,
        event=event,
        route=decide_route(reporting_street=TONGDE, residence_street=residence),
        reporting_street=TONGDE,
        residence_street=residence,
        residence_address=address,
        registration_division=registration,
        registration_address="",
        name="张三",
        id_number="430102199003070124",
    )


def reply(notice: PlannedNotice, result: str, **fields: object) -> NoticeAnswered:
    """The notice's recipient answers `result` (the other fields as given)."""
    return NoticeAnswered.model_validate(
        {
            "notice_id": notice.notice_id,
            "record_id": notice.record_id,
            "result": result,
            "answered_by": notice.recipient.code,
            "answered_at": datetime(2027, 2, 25, tzinfo=UTC),
        }
        | fields
    )
