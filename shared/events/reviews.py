"""The bureau's resolution of a record routing could not decide (the review queue)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Self

from pydantic import Field, model_validator

from shared import topics
from shared.events.envelope import Event, register
from shared.events.records import ClockTime

# A dismissal's reason is stored as typed (routing's review_queue.resolution_note): any text PostgreSQL's text
# takes, which is any but NUL (SQLSTATE 22021); one with it was accepted, then refused by the store
STORABLE_TEXT = r"^[^\x00]*$"

# The fields routing sends to review (services.routing.domain.routes.review_reason), each a division code.
REVIEWABLE_FIELDS = ("reporting_street", "residence.street", "new_residence.street", "registration.division")


class Resolution(StrEnum):
    CORRECTED = "corrected"  # the code is corrected and the record routed again
    DISMISSED = "dismissed"  # nothing will be routed; the reason says why


@register
class ReviewResolved(Event):
    """The bureau resolved a review item: a corrected code for the item's field, or dismissed with a reason."""

    TYPE: ClassVar[str] = "ReviewResolved"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = topics.REVIEWS_RESOLVED

    record_id: str = Field(max_length=36, description="The record waiting in the review queue")
    resolution: Resolution = Field(description="corrected (routed again with `code`) or dismissed (with `reason`)")
    field: str = Field(
        max_length=40,
        description="The corrected field, one of " + ", ".join(REVIEWABLE_FIELDS) + " (the item's own field)",
    )
    code: str | None = Field(
        default=None, pattern=r"^([0-9]{6}|[0-9]{9})$", description="For 'corrected': the corrected division code"
    )
    reason: str | None = Field(
        default=None, max_length=300, pattern=STORABLE_TEXT, description="For 'dismissed': why, for the record"
    )
    resolved_by: str = Field(max_length=12, description="Code of the bureau that resolved it, or 'admin'")
    # with an offset, in years 1-9999 once in UTC: as NoticeAnswered.answered_at, a time the store can keep
    resolved_at: ClockTime = Field(description="When the bureau resolved it (UTC), with an offset")

    @model_validator(mode="after")
    def _resolution_has_its_details(self) -> Self:
        if self.field not in REVIEWABLE_FIELDS:
            raise ValueError(f"field must be one of {', '.join(REVIEWABLE_FIELDS)}")
        if self.resolution is Resolution.CORRECTED and self.code is None:
            raise ValueError("a 'corrected' resolution gives the corrected code")
        if self.resolution is Resolution.DISMISSED and not self.reason:
            raise ValueError("a 'dismissed' resolution gives a reason")
        return self
