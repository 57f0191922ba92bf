"""Feedback: a recipient's answer to a notice (confirmed, corrected, not found, rejected).

Streets and bureaus answer in the notification service (or, until then, at
routing's POST /v1/notices/{id}/feedback); either way the answer travels as
`NoticeAnswered` on `notices.answered`, keyed by `notice_answered_key`, and
routing turns it into the next step of the case.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Self

from pydantic import Field, model_validator

from shared import topics
from shared.events.envelope import Event, register


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


@register
class NoticeAnswered(Event):
    """A recipient answered a notice. One answer per notice; later ones are refused."""

    TYPE: ClassVar[str] = "NoticeAnswered"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = topics.NOTICES_ANSWERED

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


def notice_answered_key(event: NoticeAnswered, *, person_key: str | None) -> str:
    """The Kafka key of a `NoticeAnswered`, the same whichever service publishes it.

    The rule: the person key of the notice's case (shared.identity.person_key of
    the case's identity number), like every other event of the person
    (RecordSubmitted, RecordRouted, NoticeIssued, the notice status events), so a
    consumer sees one person's records, notices and answers in order on one
    partition. Only a publisher that cannot know the person passes None: then the
    notice id, which keeps the at most one answer of a notice on one partition.
    """
    return person_key if person_key is not None else event.notice_id
