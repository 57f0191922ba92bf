"""A scripted report week (2027-W08, Friday 2027-02-19 10:00 to 2027-02-26 10:00, Shanghai).

Two streets of Baiyun (同德 TONGDE, 新市 XINSHI), the bureau of Baiyun, and a
street of another district. The expected figures are written out in the
tests, worked by hand from this script.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.reporting.domain.figures import FIGURES
from tests.support.records import FURONG, TONGDE, WUSHAN, XINSHI, id_number
from tests.support.reporting import Harness

BAIYUN = "440111"


def at(text: str) -> str:
    """A Shanghai local time as ISO with offset."""
    return datetime.fromisoformat(text + "+08:00").isoformat()


def rid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"popflow-test/{name}"))


def submitted(
    name: str,
    *,
    street: str,
    event: str,
    observed: str,
    received: str,
    person: int,
    residence: str | None = None,
    optional: dict[str, Any] | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event": event,
        "person": {"id_number": id_number(sequence=person), "name": "测试"},
        "reporting_street": street,
        "residence": {"street": residence or street, "address": "测试路 1 号"},
        "registration": {"division": FURONG, "address": ""},
        "observed_at": at(observed),
    }
    for key, value in (optional or {}).items():
        if key in ("phone",):
            record["person"][key] = value
        elif key in ("community", "arrived_on"):
            record["residence"][key] = value
        else:
            record[key] = value
    return {"record_id": rid(name), "received_at": at(received), "record": record}


def certificate(result: str, valid_until: str = "2027-12-31") -> dict[str, Any]:
    return {"certificate": {"result": result, "valid_until": valid_until, "checked_on": "2027-02-20"}}


FULL = {
    "phone": "13800000000",
    "community": "440111005001",
    "arrived_on": "2027-01-15",
    "marital_status": "married",
    "employer": {"name": "某公司", "credit_code": "91440101MA59XXXX0X"},
}

RECORDS = [
    # person 12 (female): seen twice (r1, r3); r1 is in the campaign's target population
    submitted(
        "r1",
        street=TONGDE,
        event="new_inflow",
        observed="2027-02-20T10:00:00",
        received="2027-02-20T12:00:00",
        person=12,
        optional={**FULL, **certificate("valid", "2027-03-10")},
    ),
    submitted(
        "r2",
        street=TONGDE,
        event="new_inflow",
        observed="2027-02-22T10:00:00",
        received="2027-02-22T12:00:00",
        person=13,
        residence=XINSHI,
        optional=certificate("expired"),
    ),
    submitted(
        "r3",
        street=TONGDE,
        event="verification",
        observed="2027-02-24T10:00:00",
        received="2027-02-24T16:00:00",
        person=12,
        residence=WUSHAN,
        optional=certificate("missing"),
    ),
    submitted(
        "r4", street=TONGDE, event="change", observed="2027-02-25T09:00:00", received="2027-02-25T10:00:00", person=15
    ),
    submitted(
        "r5", street=TONGDE, event="outflow", observed="2027-02-26T09:59:00", received="2027-02-26T09:59:30", person=17
    ),
    submitted(
        "r6",
        street=TONGDE,
        event="new_inflow",
        observed="2027-02-26T10:00:00",
        received="2027-02-26T10:05:00",
        person=19,
    ),
    submitted(
        "x1",
        street=XINSHI,
        event="new_inflow",
        observed="2027-02-19T10:00:00",
        received="2027-02-19T11:00:00",
        person=21,
        residence=TONGDE,
        optional=certificate("invalid"),
    ),
    submitted(
        "x2",
        street=XINSHI,
        event="verification",
        observed="2027-02-19T09:59:00",
        received="2027-02-19T10:30:00",
        person=23,
        optional=certificate("valid", "2027-06-01"),
    ),
    submitted(
        "x0",
        street=TONGDE,
        event="new_inflow",
        observed="2027-02-10T10:00:00",
        received="2027-02-10T10:00:00",
        person=25,
        residence=XINSHI,
    ),
    submitted(
        "w1",
        street="440106001",
        event="new_inflow",
        observed="2027-02-25T10:00:00",
        received="2027-02-25T10:00:00",
        person=27,
        residence=TONGDE,
    ),
]
LATE = submitted(
    "r7", street=TONGDE, event="verification", observed="2027-02-25T15:00:00", received="2027-02-26T11:00:00", person=29
)


def routed(name: str, route: str, street: str, residence: str, observed: str) -> dict[str, Any]:
    return {
        "record_id": rid(name),
        "route": route,
        "reporting_street": street,
        "residence_street": residence,
        "observed_at": at(observed),
        "decided_at": at(observed),
    }


ROUTED = [
    routed("r1", "same-district", TONGDE, TONGDE, "2027-02-20T10:00:00"),
    routed("r2", "cross-street", TONGDE, XINSHI, "2027-02-22T10:00:00"),
    routed("r3", "inter-district", TONGDE, WUSHAN, "2027-02-24T10:00:00"),
]


def notice(
    name: str, record: str, recipient: str, route: str, issued: str, *, kind: str = "transfer", expected: bool = True
) -> dict[str, Any]:
    """A NoticeIssued payload as routing issues it today (version 3 fields: kind and whether an answer is asked)."""
    return {
        "notice_id": rid(f"notice/{name}"),
        "record_id": rid(record),
        "recipient_code": recipient,
        "route": route,
        "reason": "test",
        "person": {"name": "测试", "id_number": id_number(sequence=99), "residence_address": "测试路"},
        "issued_at": at(issued),
        "kind": kind,
        "exchange_endpoint": None,
        "answer_expected": expected,
        "answer_due": None,
    }


NOTICE_VERSION = 3  # the version of the payloads `notice` writes; the publishers upcast from it

NOTICES = [
    notice("n2", "r2", XINSHI, "cross-street", "2027-02-22T12:00:00"),  # unanswered, 3-7 days at the cut-off
    # r3's forward to the residence district's bureau, and the transfer that only informs Baiyun's bureau
    notice("n3", "r3", "440106", "inter-district", "2027-02-24T16:00:00", kind="forward"),
    notice("n3-info", "r3", BAIYUN, "inter-district", "2027-02-24T16:00:00", expected=False),
    notice("nx1", "x1", TONGDE, "cross-street", "2027-02-19T11:00:00"),  # answered next day
    notice("n0", "x0", XINSHI, "cross-street", "2027-02-10T10:00:00"),  # W07, unanswered: over 7 days
    # n0's reminder, and a registration notice of r1: neither is a handover, nor awaits an answer
    notice("n0-reminder", "x0", XINSHI, "cross-street", "2027-02-19T12:00:00", kind="reminder", expected=False),
    notice("n1-registration", "r1", XINSHI, "cross-street", "2027-02-21T10:00:00", kind="registration", expected=False),
    # a forward from another district to the bureau: under 3 days
    notice("nw1", "w1", BAIYUN, "inter-district", "2027-02-25T10:00:00", kind="forward"),
]
ANSWER = {
    "notice_id": rid("notice/nx1"),
    "record_id": rid("x1"),
    "result": "confirmed",
    "answered_by": TONGDE,
    "answered_at": at("2027-02-20T11:00:00"),
}
REJECTIONS = [
    {
        "reporting_street": TONGDE,
        "rejected_at": at("2027-02-24T08:00:00"),
        "error_count": 2,
        "source_kind": "field_canvass",
    },
    {"reporting_street": TONGDE, "rejected_at": at("2027-02-26T10:00:01"), "error_count": 1, "source_kind": None},
]


async def publish_week(harness: Harness) -> None:
    for payload in RECORDS:
        await harness.publish("records.submitted", "RecordSubmitted", payload, strict=is_current_contract(payload))
    for payload in ROUTED:
        await harness.publish("records.routed", "RecordRouted", payload)
    for payload in NOTICES:
        await harness.publish("notices.issued", "NoticeIssued", payload, version=NOTICE_VERSION)
    await harness.publish("notices.answered", "NoticeAnswered", ANSWER)
    for payload in REJECTIONS:
        await harness.publish("records.rejected", "RecordRejected", payload)


def is_current_contract(payload: dict[str, Any]) -> bool:
    """True for records without the optional fields intake is still adding (those are checked strictly)."""
    record = payload["record"]
    return bool(
        record.keys() == {"event", "person", "reporting_street", "residence", "registration", "observed_at"}
        and record["person"].keys() == {"id_number", "name"}
        and record["residence"].keys() == {"street", "address"}
    )


# The expected figures of W08 at its cut-off, worked by hand from the script above.
def figures(**nonzero: int) -> dict[str, int]:
    values = {name: 0 for name, _ in FIGURES}
    values.update({name.replace("__", "-"): value for name, value in nonzero.items()})
    return values


TONGDE_W08 = figures(
    new_inflow=2,
    verification=1,
    change=1,
    outflow=1,
    certificate_valid=1,
    certificate_expired=1,
    certificate_missing=1,
    sent_cross__street=1,
    sent_inter__district=1,
    received_cross__street=1,
    rejected_at_intake=1,
    target_population=1,
)
XINSHI_W08 = figures(
    new_inflow=1,
    certificate_invalid=1,
    sent_cross__street=1,
    received_cross__street=1,
    unanswered_3_to_7_days=1,
    unanswered_over_7_days=1,
)
BAIYUN_W08 = figures(
    new_inflow=3,
    verification=1,
    change=1,
    outflow=1,
    certificate_valid=1,
    certificate_expired=1,
    certificate_missing=1,
    certificate_invalid=1,
    sent_cross__street=2,
    sent_inter__district=1,
    received_cross__street=2,
    received_inter__district=1,
    unanswered_under_3_days=1,
    unanswered_3_to_7_days=1,
    unanswered_over_7_days=1,
    rejected_at_intake=1,
    target_population=1,
)
