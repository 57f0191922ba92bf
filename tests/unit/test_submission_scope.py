"""Scope and codes are checked on the record as it will be stored, not on the raw body."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from services.intake.domain.validation import validate_record
from services.intake.service_layer.submissions import Outcome, Prepared, Rejected, Submissions
from shared.auth import Principal, Role, parse_scope
from shared.directory import load_directory
from shared.events import CaseRecord
from shared.identity import has_valid_check_digit
from tests.support.infra import TEST_KEYRING, TEST_ZONE
from tests.support.records import TONGDE, XINSHI, record

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def submissions() -> Submissions:
    return Submissions(cast(Any, None), load_directory(), TEST_KEYRING, b"person-secret", zone=TEST_ZONE)


def tongde_office() -> Principal:
    return Principal(key_id="k1", scope=parse_scope(f"street:{TONGDE}"))


@pytest.mark.parametrize(
    ("role", "answer"),
    [
        (Role.SUBMITTER, '{"record_id": "r1", "status": "accepted"}'),
        (Role.OFFICE, '{"record_id": "r1", "case_id": "c1", "case_version": 2, "status": "accepted"}'),
    ],
)
def test_an_answer_names_the_case_only_to_a_key_that_may_read_and_keeps_its_key_order(role: Role, answer: str) -> None:
    caller = Principal(key_id="k1", scope=parse_scope(f"street:{TONGDE}"), role=role)
    assert json.dumps(Outcome("accepted", "r1", "c1", 2).answer(caller)) == answer


@pytest.mark.parametrize("street", [f" {XINSHI}", f"{XINSHI} ", f"  {XINSHI}  "])
def test_a_padded_street_of_another_office_is_out_of_scope(street: str) -> None:
    prepared = submissions().prepare(record(reporting_street=street), tongde_office())
    assert isinstance(prepared, Rejected)
    assert prepared.out_of_scope


def test_a_padded_own_street_is_stored_trimmed() -> None:
    prepared = submissions().prepare(record(reporting_street=f" {TONGDE} "), tongde_office())
    assert isinstance(prepared, Prepared)
    assert prepared.new.reporting_street == TONGDE


@pytest.mark.parametrize(
    ("location", "code"),
    [
        (("reporting_street",), " 999999999"),
        (("residence", "street"), "999999999 "),
        (("registration", "division"), " 999999"),
    ],
)
def test_a_padded_unknown_code_fails_the_directory_check(location: tuple[str, ...], code: str) -> None:
    body = record()
    admin = Principal(key_id="k0", scope=parse_scope("admin"))
    target = body
    for part in location[:-1]:
        target = target[part]
    target[location[-1]] = code
    prepared = submissions().prepare(body, admin)
    assert isinstance(prepared, Rejected)
    assert location in [where for where, _ in prepared.problems]


@pytest.mark.parametrize("digits", [ARABIC_INDIC, FULL_WIDTH])
def test_identity_numbers_of_non_ascii_digits_are_invalid(digits: dict[int, int]) -> None:
    body = record(sequence=8)  # its check character is X, which no digit translation changes
    assert body["person"]["id_number"].endswith("X")
    body["person"]["id_number"] = body["person"]["id_number"].translate(digits)
    parsed, problems = validate_record(body, load_directory())
    assert parsed is None
    assert [location for location, _ in problems] == [("person", "id_number")]
    assert not has_valid_check_digit(body["person"]["id_number"])


@pytest.mark.parametrize("digits", [ARABIC_INDIC, FULL_WIDTH])
@pytest.mark.parametrize("location", [("reporting_street",), ("residence", "street"), ("registration", "division")])
def test_division_codes_of_non_ascii_digits_are_invalid(digits: dict[int, int], location: tuple[str, ...]) -> None:
    body = record()
    target = body
    for part in location[:-1]:
        target = target[part]
    target[location[-1]] = target[location[-1]].translate(digits)
    parsed, problems = validate_record(body, load_directory())
    assert parsed is None
    assert location in [where for where, _ in problems]


def test_the_record_model_alone_refuses_non_ascii_codes() -> None:
    body = record()
    body["reporting_street"] = TONGDE.translate(ARABIC_INDIC)
    with pytest.raises(ValueError, match="pattern"):
        CaseRecord.model_validate(body)


@pytest.mark.parametrize(
    ("given", "counted"),
    [
        ("school", "school"),
        (" school ", "school"),
        ("canvass\x00", None),  # PostgreSQL's text cannot hold a NUL
        ("canvass\ud83d", None),  # nor can UTF-8 hold half of a character
        ("学校", None),  # not one of the kinds the report counts by
        (7, None),
    ],
)
def test_a_rejected_records_source_kind_is_counted_only_when_it_is_a_kind(given: object, counted: str | None) -> None:
    body = record() | {"source_kind": given}
    body["person"]["id_number"] = "not an identity number"  # rejected, whatever its source kind
    prepared = submissions().prepare(body, tongde_office())
    assert isinstance(prepared, Rejected)
    assert prepared.source_kind == counted
