"""The case record (个案信息) and the event intake publishes when it accepts one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from shared import topics
from shared.events.envelope import Event, register
from shared.identity import birth_date_of, has_valid_check_digit


class EventKind(StrEnum):
    NEW_INFLOW = "new_inflow"
    VERIFICATION = "verification"
    CHANGE = "change"
    OUTFLOW = "outflow"


def _checked_id_number(value: str) -> str:
    # Messages never repeat the value: it is personal data.
    value = value.strip().upper()
    if len(value) != 18 or not value[:17].isdigit():
        raise ValueError("must be 17 digits followed by a digit or X")
    if birth_date_of(value) is None:
        raise ValueError("digits 7-14 are not a real birth date")
    if not has_valid_check_digit(value):
        raise ValueError("the check digit (last character) does not match; re-read the card")
    return value


IdNumber = Annotated[str, AfterValidator(_checked_id_number)]
StreetCode = Annotated[str, Field(pattern=r"^\d{9}$", description="9-digit street/township code")]
DivisionCode = Annotated[str, Field(pattern=r"^(\d{6}|\d{9})$", description="6-digit district or 9-digit street code")]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Person(_Part):
    id_number: IdNumber = Field(description="18-character resident identity number (GB 11643)")
    name: str = Field(min_length=1, max_length=50, description="Full name as on the identity card")


class Residence(_Part):
    street: StreetCode = Field(description="Street (9 digits) where the person lives now")
    address: str = Field(min_length=1, max_length=200, description="Current residence address")


class Registration(_Part):
    division: DivisionCode = Field(description="Household-registration (hukou) district or street")
    address: str = Field(default="", max_length=200, description="Household-registration address")


class CaseRecord(_Part):
    """One person found (or re-found) in the census, as an integrator submits it."""

    event: EventKind = Field(description="What the record reports: new inflow, verification, ...")
    person: Person = Field(description="Who was found")
    reporting_street: StreetCode = Field(description="Street office that reports the record")
    residence: Residence = Field(description="Where the person lives now")
    registration: Registration = Field(description="Where the person is registered (户籍地)")
    observed_at: AwareDatetime = Field(description="When the worker saw the person, with offset")


@register
class RecordSubmitted(Event):
    """Intake accepted and stored a case record."""

    TYPE: ClassVar[str] = "RecordSubmitted"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = topics.RECORDS_SUBMITTED

    record_id: str = Field(description="Id intake gave the record")
    received_at: datetime = Field(description="When intake accepted the record (UTC)")
    record: CaseRecord = Field(description="The record as accepted")
