"""The case record (个案信息) and the event intake publishes when it accepts one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, AwareDatetime, Field

from shared import topics
from shared.digits import ascii_digits
from shared.events.envelope import Event, Upcaster, register
from shared.events.record_parts import (
    Certificate,
    ChangeKind,
    CommunityCode,
    DivisionCode,
    Employer,
    KeyAreaKind,
    MaritalStatus,
    NewResidence,
    Part,
    Sex,
    SourceKind,
    StreetCode,
)
from shared.identity import birth_date_of, has_valid_check_digit


class EventKind(StrEnum):
    NEW_INFLOW = "new_inflow"
    VERIFICATION = "verification"
    CHANGE = "change"
    OUTFLOW = "outflow"


def _checked_id_number(value: str) -> str:
    # Messages never repeat the value: it is personal data.
    value = value.strip().upper()
    if len(value) != 18 or not ascii_digits(value[:17]) or value[17] not in "0123456789X":
        raise ValueError("must be 17 digits followed by a digit or X")
    if birth_date_of(value) is None:
        raise ValueError("digits 7-14 are not a real birth date")
    if not has_valid_check_digit(value):
        raise ValueError("the check digit (last character) does not match; re-read the card")
    return value


IdNumber = Annotated[str, AfterValidator(_checked_id_number)]

# The clocks of the world run from UTC-12:00 to UTC+14:00; PostgreSQL refuses an offset past ±15:59,
# which Python takes up to ±23:59, so a record with one would be accepted and never stored by routing.
EARLIEST_OFFSET, LATEST_OFFSET = timedelta(hours=-12), timedelta(hours=14)


def _clock_time(moment: datetime) -> datetime:
    offset = moment.utcoffset()
    if offset is None or not EARLIEST_OFFSET <= offset <= LATEST_OFFSET:
        raise ValueError("has an offset no clock shows (from -12:00 to +14:00; China is +08:00)")
    try:  # 0001-01-01T00:00+14:00 is a year before the first Python holds, once in UTC as every store keeps it
        moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the years 1 to 9999 once in UTC") from None
    return moment


ClockTime = Annotated[AwareDatetime, AfterValidator(_clock_time)]


class Person(Part):
    id_number: IdNumber = Field(description="18-character resident identity number (GB 11643)")
    name: str = Field(min_length=1, max_length=50, description="Full name as on the identity card")
    sex: Sex | None = Field(default=None, description="male or female; must agree with digit 17 of the number")
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 -]{4,19}$", description="Contact phone")


class Residence(Part):
    street: StreetCode = Field(description="Street (9 digits) where the person lives now")
    address: str = Field(min_length=1, max_length=200, description="Current residence address")
    community: CommunityCode | None = Field(default=None, description="12-digit community inside the street")
    arrived_on: date | None = Field(default=None, description="Date of arrival (流入时间)")


class Registration(Part):
    division: DivisionCode = Field(description="Household-registration (hukou) district or street")
    address: str = Field(default="", max_length=200, description="Household-registration address")


class CaseRecord(Part):
    """One person found (or re-found) in the census, as an integrator submits it."""

    event: EventKind = Field(description="What the record reports: new inflow, verification, ...")
    person: Person = Field(description="Who was found")
    reporting_street: StreetCode = Field(description="Street office that reports the record")
    residence: Residence = Field(description="Where the person lives now")
    registration: Registration = Field(description="Where the person is registered (户籍地)")
    observed_at: ClockTime = Field(description="When the worker saw the person, with offset (-12:00 to +14:00)")
    marital_status: MaritalStatus | None = Field(default=None, description="Marital status (婚姻状况)")
    certificate: Certificate | None = Field(default=None, description="Marriage-and-childbearing certificate check")
    employer: Employer | None = Field(default=None, description="Employer, when the person works here")
    source_kind: SourceKind | None = Field(default=None, description="How the person was found")
    key_area: KeyAreaKind | None = Field(default=None, description="Kind of key area, for a field canvass only")
    new_residence: NewResidence | None = Field(default=None, description="Where the person went, for an outflow")
    change: ChangeKind | None = Field(
        default=None,
        description="For a change record: what changed (marriage, residence, certificate, employer, other); "
        "a 'certificate' change carries the new certificate check",
    )
    external_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[\x21-\x7e]+$",
        description="The source system's own id of this record; with the source it makes a resubmission a duplicate",
    )


def _v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    # version 2 changed the wire only (the person and addresses travel sealed): same shape
    return payload


def _v2_to_v3(payload: dict[str, Any]) -> dict[str, Any]:
    # version 3 changed the wire only (the employer travels sealed): same shape
    return payload


def _v3_to_v4(payload: dict[str, Any]) -> dict[str, Any]:
    # version 4 changed the wire only (the sealed parts travel as one block): same shape
    return payload


@register
class RecordSubmitted(Event):
    """Intake accepted and stored a case record.

    Version 2: the person and every address travel sealed (shared.sealing;
    see `SEALED`); version-1 payloads carry them in clear and are read as they are.
    Version 3: the employer travels sealed too (its name is often a person's:
    a shop named for its owner); version-2 payloads carry it in clear.
    Version 4: those parts travel together, sealed once as one block
    (`SEALED_TOGETHER_SINCE`) rather than each in its place: a typical record
    was three seals in intake and three openings in every consumer, each
    costing about the same whatever its size; version-3 payloads seal each part.
    """

    TYPE: ClassVar[str] = "RecordSubmitted"
    VERSION: ClassVar[int] = 4
    TOPIC: ClassVar[str] = topics.RECORDS_SUBMITTED
    UPCASTERS: ClassVar[dict[int, Upcaster]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}
    SEALED: ClassVar[tuple[str, ...]] = (
        "record.person",
        "record.residence.address",
        "record.registration.address",
        "record.new_residence.address",
        "record.employer",
    )
    SEALED_SINCE: ClassVar[int] = 2
    SEALED_FROM: ClassVar[dict[str, int]] = {"record.employer": 3}
    SEALED_TOGETHER_SINCE: ClassVar[int | None] = 4

    record_id: str = Field(max_length=36, description="Id intake gave the record")
    received_at: ClockTime = Field(description="When intake accepted the record (UTC), with an offset")
    record: CaseRecord = Field(description="The record as accepted")
    case_id: str | None = Field(
        default=None,
        max_length=36,
        description="The case (one per person) this record is a version of; None before issue 3",
    )
    case_version: int = Field(default=1, ge=1, description="Version of the case this record makes (1 = first seen)")
