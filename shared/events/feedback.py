"""Feedback on a notice: the recipient's answer, which drives the exchange workflow.

Streets give feedback where they read their notices (notification service);
the event carries it to routing, which acts on it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field

from shared import topics
from shared.events.envelope import Event, register


class FeedbackResult(StrEnum):
    CONFIRMED = "confirmed"  # the person lives here, details as notified
    CORRECTED = "corrected"  # the person lives here, some details differ (see corrections)
    NOT_FOUND = "not_found"  # nobody of that description lives here
    REJECTED = "rejected"  # the notice itself is implausible (see reason)


class RejectionReason(StrEnum):
    WRONG_RECIPIENT = "wrong_recipient"
    PERSON_LEFT = "person_left"
    DUPLICATE = "duplicate"


@register
class NoticeAnswered(Event):
    """A recipient answered a notice."""

    TYPE: ClassVar[str] = "NoticeAnswered"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = topics.NOTICES_ANSWERED

    notice_id: str = Field(description="The notice answered")
    record_id: str = Field(description="The case record the notice is about")
    result: FeedbackResult = Field(description="confirmed, corrected, not_found or rejected")
    corrections: dict[str, Any] = Field(
        default_factory=dict,
        description="With 'corrected': the corrected fields, shaped like the case record's (e.g. residence.street)",
    )
    reason: RejectionReason | None = Field(default=None, description="With 'rejected': why")
    note: str = Field(default="", max_length=500, description="Free text from the answering office")
    answered_by: str = Field(description="Code of the office that answered (street or district)")
    answered_at: datetime = Field(description="When the answer was given (UTC)")
