"""Feedback: a recipient's answer to a notice (confirmed, corrected, not found, rejected).

Streets and bureaus answer in the notification service (or, until then, at
routing's POST /v1/notices/{id}/feedback); either way the answer travels as
`NoticeAnswered` on `notices.answered`, keyed by `notice_answered_key`, and
routing turns it into the next step of the case.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Self

from pydantic import Field, model_validator

from shared import topics
from shared.events.envelope import Event, Upcaster, register


class FeedbackResult(StrEnum):
    CONFIRMED = "confirmed"
    CORRECTED = "corrected"
    NOT_FOUND = "not_found"
    REJECTED = "rejected"


# What a "corrected" answer may change: the fields routing routes and notifies with.
# Notification refuses anything else at the door (422), routing relies on it.
CORRECTABLE_FIELDS = frozenset(
    {"residence_street", "residence_address", "registration_division", "registration_address", "name"}
)


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

    notice_id: str = Field(description="The notice being answered (NoticeIssued.notice_id)")
    record_id: str = Field(description="The case record the notice is about")
    result: FeedbackResult = Field(description="confirmed, corrected, not_found or rejected")
    corrections: dict[str, str] = Field(
        default_factory=dict,
        description="For 'corrected': the fields that differ, e.g. residence_street, residence_address",
    )
    reason: RejectionReason | None = Field(
        default=None, description="For 'rejected': wrong_recipient, person_left or duplicate"
    )
    note: str | None = Field(default=None, max_length=500, description="Free text from the recipient")
    answered_by: str = Field(description="Code of the recipient that answered (street or district bureau)")
    answered_at: datetime = Field(description="When the recipient answered (UTC)")

    @model_validator(mode="after")
    def _result_has_its_details(self) -> Self:
        if self.result is FeedbackResult.CORRECTED and not self.corrections:
            raise ValueError("a 'corrected' answer lists the corrected fields")
        if self.result is FeedbackResult.REJECTED and self.reason is None:
            raise ValueError("a 'rejected' answer gives a reason code")
        return self


def notice_answered_key(*, person_key: str | None, notice_id: str) -> str:
    """The Kafka key of every NoticeAnswered, whichever service publishes it.

    The person key of the notice's case, like every other event of the person,
    so a consumer sees one person's events in order; the notice id only when
    the publisher does not know the person (the answers of one notice then
    still share a partition).
    """
    return person_key or notice_id
