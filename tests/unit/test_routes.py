"""decide_route over real codes of the national directory."""

from __future__ import annotations

import pytest

from services.routing.domain.notices import transfer_notice
from services.routing.domain.routes import decide_route
from shared.directory import DivisionLevel, load_directory
from shared.events import Route

CASES = [
    # reporting street, residence street, route, why
    ("440111005", "440111005", Route.SAME_DISTRICT, "same street of Baiyun"),
    ("440111005", "440111008", Route.CROSS_STREET, "two streets of Baiyun"),
    ("440111002", "440111010", Route.CROSS_STREET, "Sanyuanli to Jingxi, Baiyun"),
    ("440111005", "440106001", Route.INTER_DISTRICT, "Baiyun to Tianhe, same city"),
    ("440111005", "310115005", Route.INTER_DISTRICT, "Baiyun to Pudong, other province"),
    ("310115005", "440111005", Route.INTER_DISTRICT, "Pudong to Baiyun"),
]


@pytest.mark.parametrize(("reporting", "residence", "route", "why"), CASES)
def test_decide_route(reporting: str, residence: str, route: Route, why: str) -> None:
    directory = load_directory()
    assert directory.exists(reporting, DivisionLevel.STREET), why
    assert directory.exists(residence, DivisionLevel.STREET), why
    assert decide_route(reporting_street=reporting, residence_street=residence) is route, why


def test_every_pair_of_baiyun_streets_is_cross_street_or_same() -> None:
    streets = load_directory().streets_of("440111")
    assert len(streets) == 24
    for a in streets:
        for b in streets:
            expected = Route.SAME_DISTRICT if a == b else Route.CROSS_STREET
            assert decide_route(reporting_street=a, residence_street=b) is expected


@pytest.mark.parametrize(
    ("route", "residence", "recipient"),
    [
        (Route.CROSS_STREET, "440111008", "440111008"),
        (Route.INTER_DISTRICT, "440106001", "440106"),
    ],
)
def test_transfer_notice_recipient(route: Route, residence: str, recipient: str) -> None:
    notice = transfer_notice(record_id="r1", route=route, residence_street=residence)
    assert notice is not None
    assert notice.recipient_code == recipient


def test_same_district_has_no_notice_and_ids_are_stable() -> None:
    assert transfer_notice(record_id="r1", route=Route.SAME_DISTRICT, residence_street="440111005") is None
    first = transfer_notice(record_id="r1", route=Route.CROSS_STREET, residence_street="440111008")
    again = transfer_notice(record_id="r1", route=Route.CROSS_STREET, residence_street="440111008")
    other = transfer_notice(record_id="r2", route=Route.CROSS_STREET, residence_street="440111008")
    assert first is not None
    assert again is not None
    assert other is not None
    assert first.notice_id == again.notice_id != other.notice_id
