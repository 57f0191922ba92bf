"""Every validation rule, each with a record that breaks only it (table-driven)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from services.intake.domain.credit_code import is_valid_credit_code
from services.intake.domain.validation import validate_record
from shared.directory import load_directory
from shared.events.records import ClockTime
from shared.identity import birth_date_of
from tests.support.records import credit_code, full_record, id_number, record

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MALE_NUMBER = id_number(sequence=11)
FUTURE_BORN = id_number(born=date(2026, 5, 1))


def broken(path: str, value: Any) -> dict[str, Any]:
    """The full valid record with one field set to `value` (or removed, for ...)."""
    body = copy.deepcopy(full_record())
    *parents, last = path.strip("/").split("/")
    target = body
    for part in parents:
        target = target[part]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return body


RULES = [
    # (what the rule is, field, bad value, pointer reported)
    ("id check digit", "/person/id_number", MALE_NUMBER[:17] + ("0" if MALE_NUMBER[17] != "0" else "1"), None),
    ("id birth date not real", "/person/id_number", "430102199002300128", None),
    ("id birth date in future", "/person/id_number", FUTURE_BORN, None),
    ("id shape", "/person/id_number", "43010219900307012", None),
    ("sex disagrees with digit 17", "/person/sex", "male", None),
    ("sex value", "/person/sex", "m", None),
    ("name required", "/person/name", ..., None),
    ("name too long", "/person/name", "张" * 51, None),
    ("name with control character", "/person/name", "张\x00三", None),
    ("phone shape", "/person/phone", "call me", None),
    ("reporting street unknown", "/reporting_street", "440111999", None),
    ("reporting street is a district", "/reporting_street", "440111", None),
    ("residence street unknown", "/residence/street", "440111998", "/residence/street"),
    ("community shape", "/residence/community", "44011100500", None),
    ("community outside the street", "/residence/community", "440111008001", None),
    ("address too long", "/residence/address", "路" * 201, None),
    ("arrival after observation", "/residence/arrived_on", "2026-02-26", None),
    ("arrival not a date", "/residence/arrived_on", "2026-02-30", None),
    ("registration unknown", "/registration/division", "999999", None),
    ("marital status value", "/marital_status", "complicated", None),
    ("certificate division unknown", "/certificate/issuing_division", "430199", None),
    ("issued after checked", "/certificate/issued_on", "2026-02-26", None),
    ("checked in the future", "/certificate/checked_on", "2026-03-02", None),
    ("valid but expired at check", "/certificate/valid_until", "2026-02-24", "/certificate/result"),
    ("valid without number", "/certificate/number", ..., None),
    ("result value", "/certificate/result", "lost", None),
    ("credit code check character", "/employer/credit_code", "91440111MA5ABCDE1" + "0", None),
    ("credit code alphabet", "/employer/credit_code", "91440111MA5ABCDEIO", None),
    ("source kind value", "/source_kind", "rumour", None),
    ("key area outside canvass", "/source_kind", "school", "/key_area"),
    ("key area value", "/key_area", "beach", None),
    ("observed in the future", "/observed_at", "2026-03-01T20:06:00+08:00", None),
    ("observed without offset", "/observed_at", "2026-02-25T10:30:00", None),
    ("observed at an offset PostgreSQL refuses", "/observed_at", "2026-02-25T10:30:00-23:59", None),
    ("observed at an offset no clock shows", "/observed_at", "2026-02-25T10:30:00+14:30", None),
    ("event value", "/event", "born", None),
    ("new residence outside outflow", "/new_residence", {"street": "440111008"}, None),
    ("external id too long", "/external_id", "x" * 65, None),
    ("external id is an identity number", "/external_id", MALE_NUMBER, None),
    ("external id holds an identity number", "/external_id", f"pcs-{MALE_NUMBER.lower()}-2", None),
    ("certificate number is an identity number", "/certificate/number", FUTURE_BORN, None),
    ("unknown field", "/shoe_size", 42, None),
    ("unknown nested field", "/person/pregnant", True, None),
]


def pointers(body: dict[str, Any], now: datetime = NOW) -> dict[str, str]:
    parsed, problems = validate_record(body, load_directory(), now=now)
    assert parsed is None
    return {"/" + "/".join(str(p) for p in location): message for location, message in problems}


def test_the_full_record_is_valid() -> None:
    parsed, problems = validate_record(full_record(), load_directory(), now=NOW)
    assert problems == []
    assert parsed is not None
    assert parsed.certificate is not None
    assert parsed.employer is not None


def test_a_person_is_seen_and_arrives_after_being_born() -> None:
    born = birth_date_of(full_record()["person"]["id_number"])
    assert born is not None
    unseen = full_record()
    unseen["observed_at"] = "0001-01-01T00:00:00+14:00"  # in UTC a year before the first: no time to keep
    del unseen["residence"]["arrived_on"]
    assert list(pointers(unseen)) == ["/observed_at"]
    unborn = full_record()
    unborn["residence"]["arrived_on"] = (born - timedelta(days=1)).isoformat()
    assert list(pointers(unborn)) == ["/residence/arrived_on"]
    newborn = full_record()
    newborn["residence"]["arrived_on"] = born.isoformat()
    assert validate_record(newborn, load_directory(), now=NOW)[1] == []


@pytest.mark.parametrize(("rule", "path", "value", "reported"), RULES, ids=[r[0] for r in RULES])
def test_each_rule_alone(rule: str, path: str, value: Any, reported: str | None) -> None:
    found = pointers(broken(path, value))
    assert list(found) == [reported or path], rule
    text = " ".join(found.values())
    assert full_record()["person"]["id_number"] not in text
    assert "张三" not in text


@pytest.mark.parametrize("text", ["app-000000000000000001", "430102199013070121", f"{MALE_NUMBER}0", "HY-4301-000123"])
def test_ids_and_numbers_that_hold_no_identity_number_are_kept(text: str) -> None:
    """Only a sound identity number is refused in a field kept in clear: 18 digits with a wrong check character
    or no real birth date, or a longer run of digits, are some system's own id."""
    body = full_record()
    body["external_id"] = text
    body["certificate"]["number"] = text
    assert validate_record(body, load_directory(), now=NOW)[1] == []


def test_outflow_may_name_a_new_residence() -> None:
    body = full_record(event="outflow")
    body["new_residence"] = {"street": "440111008", "address": "新市街 1 号"}
    parsed, problems = validate_record(body, load_directory(), now=NOW)
    assert problems == []
    assert parsed is not None


def test_expired_and_missing_certificates() -> None:
    expired = broken("/certificate/result", "expired")
    expired["certificate"]["valid_until"] = "2026-01-31"
    expired["certificate"]["issued_on"] = "2025-01-01"
    assert validate_record(expired, load_directory(), now=NOW)[1] == []
    missing = full_record()
    missing["certificate"] = {"result": "missing", "checked_on": "2026-02-25"}
    assert validate_record(missing, load_directory(), now=NOW)[1] == []
    missing["certificate"]["number"] = "HY-1"
    assert list(pointers(missing)) == ["/certificate/number"]


def test_issue_date_after_valid_until() -> None:
    body = broken("/certificate/result", "invalid")  # 'invalid' puts no constraint on the dates
    body["certificate"].update(issued_on="2026-02-01", valid_until="2026-01-31")
    assert list(pointers(body)) == ["/certificate/valid_until"]


@pytest.mark.parametrize("offset", ["-12:00", "+14:00", "+05:45", "Z"])
def test_an_observation_at_any_offset_a_clock_shows_passes(offset: str) -> None:
    body = full_record() | {"observed_at": f"2026-02-25T10:30:00{offset}"}
    parsed, problems = validate_record(body, load_directory(), now=NOW)
    assert (problems, parsed is not None) == ([], True)


def test_observation_within_clock_skew_passes() -> None:
    body = broken("/observed_at", "2026-03-01T20:04:00+08:00")  # 4 minutes ahead of NOW
    assert validate_record(body, load_directory(), now=NOW)[1] == []


@pytest.mark.parametrize("first17", ["91440111MA5ABCDE1", "91110000100000000", "12100000400000000"])
def test_credit_codes(first17: str) -> None:
    code = credit_code(first17)
    assert is_valid_credit_code(code)
    for position in range(18):
        for char in "0A":
            corrupted = code[:position] + char + code[position + 1 :]
            if corrupted != code:
                assert not is_valid_credit_code(corrupted)


def test_known_credit_code() -> None:
    assert is_valid_credit_code("91350100M000100Y43")  # a published example


identity_numbers = st.builds(
    id_number,
    region=st.sampled_from(["110105", "440111", "430102", "310115"]),
    born=st.dates(min_value=date(1930, 1, 1), max_value=date(2020, 12, 31)),
    sequence=st.integers(min_value=0, max_value=999),
)


@settings(max_examples=150, deadline=None)
@given(identity_numbers, st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_records_with_generated_numbers_pass_and_any_one_character_change_fails(
    number: str, position: int, char: str
) -> None:
    body = broken("/person/id_number", number)
    del body["person"]["sex"]  # the generated sex digit varies
    assert validate_record(body, load_directory(), now=NOW)[1] == []
    corrupted = number[:position] + char + number[position + 1 :]
    if corrupted != number:
        body["person"]["id_number"] = corrupted
        assert list(pointers(body)) == ["/person/id_number"]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_a_moment_outside_the_years_python_holds_once_in_utc_is_refused(moment: str) -> None:
    with pytest.raises(ValidationError, match="outside the years 1 to 9999"):
        TypeAdapter(ClockTime).validate_python(moment)


def test_a_certificate_checked_this_morning_in_china_is_not_in_the_future() -> None:
    """A date is today where the deployment lives, not in UTC: from 00:00 to 08:00 in China the UTC date
    is still yesterday, and a certificate checked at a 07:00 market canvass, observed at 07:30 +08:00 and
    sent at once, was refused as "lies in the future" (single POSTs and bulk rows alike)."""
    now = datetime.fromisoformat("2026-02-24T23:40:00+00:00")  # 2026-02-25 07:40 in Beijing
    body = full_record(observed_at="2026-02-25T07:30:00+08:00")
    body["certificate"]["checked_on"] = "2026-02-25"
    body["certificate"]["issued_on"] = "2025-06-01"
    body["residence"]["arrived_on"] = "2026-01-10"
    record, problems = validate_record(body, load_directory(), now=now)
    assert problems == []
    assert record is not None


CHECK_DAYS = [
    # (zone, now, checked_on, accepted): today is the zone's date of now (5 minutes' skew allowed)
    ("Asia/Shanghai", "2026-02-24T23:40:00+00:00", "2026-02-25", True),  # 07:40 on the 25th there
    ("Asia/Shanghai", "2026-02-24T23:40:00+00:00", "2026-02-26", False),
    ("Asia/Shanghai", "2026-02-25T15:57:00+00:00", "2026-02-26", True),  # 23:57: a device's clock a little ahead
    ("America/Bogota", "2026-02-25T03:00:00+00:00", "2026-02-24", True),  # 22:00 on the 24th there
    ("America/Bogota", "2026-02-25T03:00:00+00:00", "2026-02-25", False),  # the UTC date, tomorrow there
]


@pytest.mark.parametrize(("zone", "now", "checked_on", "accepted"), CHECK_DAYS)
def test_a_check_date_is_measured_against_today_in_the_deployments_zone(
    zone: str, now: str, checked_on: str, accepted: bool
) -> None:
    """POPFLOW_TIMEZONE, not UTC, says which day it is: a zone west of UTC refuses the UTC date when it is
    still yesterday there, as a zone east of it accepts its own date before UTC has reached it."""
    moment = datetime.fromisoformat(now)
    body = full_record(observed_at=(moment - timedelta(minutes=30)).isoformat())
    body["certificate"]["checked_on"] = checked_on
    problems = validate_record(body, load_directory(), now=moment, zone=ZoneInfo(zone))[1]
    assert problems == ([] if accepted else [(("certificate", "checked_on"), "lies in the future")])


def test_a_person_born_today_in_china_is_born_before_utc_has_reached_the_day() -> None:
    """The identity number's birth date is measured against today in the deployment's zone too: a baby
    born on the 25th, seen at 07:30 in China (still the 24th in UTC), was refused as born in the future."""
    now = datetime.fromisoformat("2026-02-24T23:40:00+00:00")
    body = record(observed_at="2026-02-25T07:30:00+08:00")
    body["person"]["id_number"] = id_number(born=date(2026, 2, 25))
    assert validate_record(body, load_directory(), now=now)[1] == []
    body["person"]["id_number"] = id_number(born=date(2026, 2, 26))
    assert list(pointers(body, now)) == ["/person/id_number"]
