"""Feedback: a recipient's answer to a notice (confirmed, corrected, not found, rejected).

Streets and bureaus answer in the notification service (or, until then, at
routing's POST /v1/notices/{id}/feedback); either way the answer travels as
`NoticeAnswered` on `notices.answered`, keyed by `notice_answered_key`, and
routing turns it into the next step of the case.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, ClassVar, Self

from pydantic import Field, field_validator, model_validator

from shared import topics
from shared.events.envelope import Event, Upcaster, register
from shared.events.records import ClockTime


class FeedbackResult(StrEnum):
    CONFIRMED = "confirmed"
    CORRECTED = "corrected"
    NOT_FOUND = "not_found"
    REJECTED = "rejected"


# What a "corrected" answer may change: the fields routing routes and notifies with, each
# with the shape the case record gives it (and routing's cases table stores: name 50,
# addresses 200, codes 9). Notification refuses anything else at the door (422); the
# event refuses it too, so a message that slipped past a door is dead-lettered, not retried.
CORRECTION_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "residence_street": (re.compile(r"[0-9]{9}"), "must be a 9-digit street code"),
    "residence_address": (re.compile(r"(?s)(?=.*\S).{1,200}"), "must be 1-200 characters, not blank"),
    "registration_division": (re.compile(r"[0-9]{6}|[0-9]{9}"), "must be a 6-digit district or 9-digit street code"),
    "registration_address": (re.compile(r"(?s).{0,200}"), "must be at most 200 characters"),
    "name": (re.compile(r"(?s)(?=.*\S).{1,50}"), "must be 1-50 characters, not blank"),
}
CORRECTABLE_FIELDS = frozenset(CORRECTION_SHAPES)


def correction_problems(corrections: dict[str, str]) -> list[tuple[str, str]]:
    """(field, message) for every correction that is not correctable or not of its field's shape.

    Messages never quote the value: it may be a name or an address.
    """
    problems: list[tuple[str, str]] = []
    for name, value in sorted(corrections.items()):
        shape = CORRECTION_SHAPES.get(name)
        if shape is None:
            problems.append((name, "cannot be corrected here; correctable: " + ", ".join(sorted(CORRECTABLE_FIELDS))))
        elif not shape[0].fullmatch(value):
            problems.append((name, shape[1]))
    return problems


class RejectionReason(StrEnum):
    WRONG_RECIPIENT = "wrong_recipient"
    PERSON_LEFT = "person_left"
    DUPLICATE = "duplicate"


def _v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    # version 2 changed the wire only (corrections and note travel sealed): same shape
    return payload


@register
class NoticeAnswered(Event):
    """A recipient answered a notice. One answer per notice; later ones are refused.

    Version 2: `corrections` (a corrected name or address) and `note` travel
    sealed (shared.sealing); version-1 payloads carry them in clear.
    """

    TYPE: ClassVar[str] = "NoticeAnswered"
    VERSION: ClassVar[int] = 2
    TOPIC: ClassVar[str] = topics.NOTICES_ANSWERED
    UPCASTERS: ClassVar[dict[int, Upcaster]] = {1: _v1_to_v2}
    SEALED: ClassVar[tuple[str, ...]] = ("corrections", "note")
    SEALED_SINCE: ClassVar[int] = 2

    notice_id: str = Field(max_length=36, description="The notice being answered (NoticeIssued.notice_id)")
    record_id: str = Field(max_length=36, description="The case record the notice is about")
    result: FeedbackResult = Field(description="confirmed, corrected, not_found or rejected")
    corrections: dict[str, str] = Field(
        default_factory=dict,
        max_length=len(CORRECTABLE_FIELDS),
        description="For 'corrected': the fields that differ, each in its record shape: residence_street "
        "(9 digits), residence_address (1-200 characters), registration_division (6 or 9 digits), "
        "registration_address (at most 200), name (1-50)",
    )
    reason: RejectionReason | None = Field(
        default=None, description="For 'rejected': wrong_recipient, person_left or duplicate"
    )
    note: str | None = Field(default=None, max_length=500, description="Free text from the recipient")
    answered_by: str = Field(
        max_length=12, description="Code of the recipient that answered (street or district bureau), or 'admin'"
    )
    # a time the stores can keep: with an offset, and in years 1-9999 once in UTC (taken without one, the answer
    # failed as its time was written, retried for ever, and held back every later answer of its partition)
    answered_at: ClockTime = Field(description="When the recipient answered (UTC), with an offset")

    @model_validator(mode="after")
    def _result_has_its_details(self) -> Self:
        if self.result is FeedbackResult.CORRECTED and not self.corrections:
            raise ValueError("a 'corrected' answer lists the corrected fields")
        if self.result is FeedbackResult.REJECTED and self.reason is None:
            raise ValueError("a 'rejected' answer gives a reason code")
        return self

    @field_validator("corrections")
    @classmethod
    def _corrections_in_shape(cls, corrections: dict[str, str]) -> dict[str, str]:
        if problems := correction_problems(corrections):
            raise ValueError("; ".join(f"{name} {message}" for name, message in problems))
        return corrections


def notice_answered_key(*, person_key: str | None, notice_id: str) -> str:
    """The Kafka key of every NoticeAnswered, whichever service publishes it.

    The person key of the notice's case, like every other event of the person,
    so a consumer sees one person's events in order; the notice id only when
    the publisher does not know the person (the answers of one notice then
    still share a partition).
    """
    return person_key or notice_id
