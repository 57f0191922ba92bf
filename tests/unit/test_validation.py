"""Record validation: every bad field in one answer, no value echoed."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.domain.codes import CODE_LOCATIONS, directory_problems
from services.intake.domain.consistency import BROKEN_CHARACTER, control_character_problems
from services.intake.domain.fields import value_at
from services.intake.domain.validation import _codes_changed, validate_record
from services.intake.service_layer.submissions import fingerprint
from shared.directory import load_directory
from tests.support.records import record


def problems_of(body: dict[str, Any]) -> dict[str, str]:
    parsed, problems = validate_record(body, load_directory())
    assert parsed is None
    return {"/" + "/".join(str(p) for p in location): message for location, message in problems}


def test_valid_record_passes() -> None:
    parsed, problems = validate_record(record(), load_directory())
    assert problems == []
    assert parsed is not None
    assert parsed.reporting_street == "440111005"


def test_every_problem_is_reported_at_once() -> None:
    body = record()
    body["person"]["id_number"] = "110105194912310021"  # wrong check digit
    body["reporting_street"] = "440111999"  # not in the directory
    body["registration"]["division"] = "999999"
    body["observed_at"] = "2027-02-24T10:30:00"  # no offset
    body["shoe_size"] = 42
    found = problems_of(body)
    assert set(found) == {
        "/person/id_number",
        "/reporting_street",
        "/registration/division",
        "/observed_at",
        "/shoe_size",
    }
    assert "check digit" in found["/person/id_number"]
    assert "110105194912310021" not in " ".join(found.values())


@pytest.mark.parametrize(
    ("path", "value", "pointer"),
    [
        (("residence", "street"), "44011100", "/residence/street"),  # 8 digits
        (("residence", "street"), "440111", "/residence/street"),  # a district, not a street
        (("person", "name"), "", "/person/name"),
        (("event",), "born", "/event"),
        (("person", "id_number"), "110105194913310024", "/person/id_number"),  # 13th month
    ],
)
def test_single_bad_field(path: tuple[str, ...], value: str, pointer: str) -> None:
    body = record()
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert list(problems_of(body)) == [pointer]


def test_a_retired_street_is_accepted_with_a_warning_and_an_unknown_one_refused() -> None:
    from services.intake.domain.codes import division_warnings
    from shared.directory import load_changes

    body = record(reporting_street="440113007", residence_street="440113118")  # 沙湾镇, now 沙湾街道
    assert validate_record(body, load_directory())[0] is None  # without the change table: unknown
    parsed, problems = validate_record(body, load_directory(), changes=load_changes())
    assert parsed is not None, problems
    (warning,) = division_warnings(body, load_changes())
    assert warning["field"] == "residence.street"
    assert "successor 440113017" in warning["note"]
    unknown = record(reporting_street="440113007", residence_street="440113999")
    assert validate_record(unknown, load_directory(), changes=load_changes())[0] is None


def test_control_characters_are_reported_where_they_are_and_nowhere_else() -> None:
    body = record()
    body["person"]["name"] = "张\x00三"
    body["residence"]["address"] = "路\x1b1号"
    body["note"] = "clean"

    assert control_character_problems(body) == [
        (("person", "name"), "contains a control character; type the text again"),
        (("residence", "address"), "contains a control character; type the text again"),
    ]
    assert control_character_problems(record()) == []


def test_half_of_a_utf16_pair_is_reported_where_it_is() -> None:
    body = record()
    body["person"]["name"] = "张\udc00"
    body["residence"]["address"] = "路\ud83d1号"  # an emoji's first half

    assert control_character_problems(body) == [
        (("person", "name"), BROKEN_CHARACTER),
        (("residence", "address"), BROKEN_CHARACTER),
    ]
    assert control_character_problems({"name": "路\U0001f600号"}) == []  # the whole emoji is text


def test_a_body_is_fingerprinted_as_before_and_with_half_of_a_utf16_pair_too() -> None:
    body = record()
    before = hashlib.sha256(
        json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()
    assert fingerprint(body) == before  # stored with idempotency keys: a new formula would break replays

    broken = record()
    broken["person"]["name"] = "张\ud800"
    assert fingerprint(broken) != before
    assert fingerprint(copy.deepcopy(broken)) == fingerprint(broken)


def _as_before(body: Any) -> str:
    """The fingerprint's one formula, as stored beside every idempotency key so far."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(st.characters()),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(st.characters()), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(_JSON_VALUES)
def test_the_fingerprint_writes_the_bytes_it_always_wrote_for_any_json_body(body: Any) -> None:
    # orjson takes the plain bodies: the same bytes, or a replay under an old Idempotency-Key is refused
    assert fingerprint(body) == _as_before(body)


def test_every_character_and_key_order_is_fingerprinted_as_before() -> None:
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    keys = {"\uffff": 1, "\U00010000": 2, "\x7f": 3, "\u2028": 4, "": 5, "a\x00": 6, "a": 7, "é": 8}
    body = {"text": every, "keys": keys, "numbers": [0, -1, 2**63 - 1, -(2**63), 2**64 - 1], "flags": [True, None]}
    assert fingerprint(body) == _as_before(body)
    beyond = {"number": 2**64, "text": "路"}  # past what orjson writes: json.dumps, as before
    assert fingerprint(beyond) == _as_before(beyond)
    assert fingerprint({"x": 1e-05, "y": float("nan")}) == _as_before({"x": 1e-05, "y": float("nan")})


@pytest.mark.parametrize("location", CODE_LOCATIONS, ids=lambda location: ".".join(map(str, location)))
def test_the_records_codes_are_checked_again_when_one_differs_from_the_body(location: tuple[str, ...]) -> None:
    body = record()
    parsed, _ = validate_record(body, load_directory())
    assert parsed is not None
    normalised = copy.deepcopy(body)
    assert not _codes_changed(normalised, parsed)

    changed: Any = normalised
    for part in location[:-1]:
        changed = changed.setdefault(part, {})
    changed[location[-1]] = "000000000"

    assert _codes_changed(normalised, parsed)


def test_the_rules_read_text_trimmed_as_the_record_keeps_it() -> None:
    # the rules' own reading, without the second check on the record's codes: a padded street
    # code is the code it becomes, and a padded date the date
    body = record()
    body["reporting_street"] = " 999999999 "
    body["residence"]["street"] = f" {body['residence']['street']}"
    assert directory_problems(body, load_directory()) == [
        (("reporting_street",), "is not a street code in the national directory")
    ]
    assert value_at(body, ("residence", "street")) == body["residence"]["street"].strip()
    assert value_at(body, ("residence",)) is body["residence"]  # an object is read as it is
