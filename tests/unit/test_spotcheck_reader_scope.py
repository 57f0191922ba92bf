"""Who reads which rows of a district's spot check (the ranking of streets, the place checks): a street office
its own street, and only when that street lies in the check's district."""

from __future__ import annotations

import pytest

from services.reporting.entrypoints.http.access import require_district_or_street
from shared.auth import Principal, Role, parse_scope
from shared.http.problems import ProblemError

BAIYUN, TONGDE, PUDONG_STREET = "440111", "440111005", "310115005"


def office(street: str) -> Principal:
    return Principal("k", parse_scope(f"street:{street}"))


def test_a_street_office_of_the_district_reads_its_own_street() -> None:
    assert require_district_or_street(office(TONGDE), BAIYUN, None) == TONGDE
    assert require_district_or_street(office(TONGDE), BAIYUN, TONGDE) == TONGDE


def test_a_street_office_of_another_district_is_refused_not_answered_empty() -> None:
    with pytest.raises(ProblemError) as refused:
        require_district_or_street(office(PUDONG_STREET), BAIYUN, None)
    assert refused.value.status == 403


def test_the_bureau_reads_the_district_or_one_of_its_streets_and_an_admin_anything() -> None:
    bureau = Principal("k", parse_scope(f"district:{BAIYUN}"), role=Role.BUREAU)
    assert require_district_or_street(bureau, BAIYUN, None) == BAIYUN
    assert require_district_or_street(bureau, BAIYUN, TONGDE) == TONGDE
    admin = Principal("k", parse_scope("admin"))
    assert require_district_or_street(admin, BAIYUN, PUDONG_STREET) == PUDONG_STREET
