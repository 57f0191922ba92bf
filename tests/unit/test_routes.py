"""decide_route over real codes of the national directory."""

from __future__ import annotations

import pytest

from services.routing.domain.routes import decide_route, review_reason
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


REVIEW_CASES = [
    # reporting street, residence street, registration, field flagged
    ("440111005", "440111999", "430102", "residence.street"),  # well-formed, not in the directory
    ("440111999", "440111005", "430102", "reporting_street"),
    ("440111005", "440106001", "439999", "registration.division"),
    ("440111005", "440111005", "4401", "registration.division"),  # a city is not a registration place
]


@pytest.mark.parametrize(("reporting", "residence", "registration", "field"), REVIEW_CASES)
def test_codes_outside_the_directory_go_to_review(
    reporting: str, residence: str, registration: str, field: str
) -> None:
    review = review_reason(
        load_directory(), reporting_street=reporting, residence_street=residence, registration=registration
    )
    assert review is not None
    assert review.field == field


@pytest.mark.parametrize("registration", ["430102", "440111005", "310115"])
def test_current_codes_need_no_review(registration: str) -> None:
    directory = load_directory()
    assert (
        review_reason(directory, reporting_street="440111005", residence_street="310115005", registration=registration)
        is None
    )
