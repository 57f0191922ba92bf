"""A routing case as the domain's tests build it: a person reported by 同德 (TONGDE), living at `residence`."""

from __future__ import annotations

from services.routing.domain.cases import Case, CaseStatus
from services.routing.domain.routes import decide_route
from shared.events import EventKind

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
