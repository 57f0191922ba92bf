"""How far a notice got: pushed to its recipient, acknowledged by it.

Notification publishes these (and NoticeAnswered, shared.events.feedback) so
reporting can count notices delivered and still unanswered per street.
Each is published at most once per notice and status, with a deterministic
event id, so a re-publication is recognisable.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared import topics
from shared.events.envelope import Event, register
from shared.events.records import ClockTime


@register
class NoticeDelivered(Event):
    """A notice's webhook answered 2xx: the recipient has it."""

    TYPE: ClassVar[str] = "NoticeDelivered"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = topics.NOTICES_DELIVERED

    notice_id: str = Field(max_length=36, description="The notice delivered")
    record_id: str = Field(max_length=36, description="The case record the notice is about")
    recipient_code: str = Field(
        pattern=r"^([0-9]{6}|[0-9]{9})$", description="9-digit street or 6-digit district bureau code"
    )
    route: str = Field(
        max_length=20, description="Route that caused the notice (same-district, cross-street, inter-district)"
    )
    kind: str = Field(max_length=20, description="Kind of notice (transfer, forward, registration, ...)")
    attempts: int = Field(ge=1, description="Push attempts it took, this one included")
    delivered_at: ClockTime = Field(description="When the receiver's 2xx answer arrived (UTC), with an offset")


@register
class NoticeAcknowledged(Event):
    """The recipient confirmed through the API that it has read a notice."""

    TYPE: ClassVar[str] = "NoticeAcknowledged"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = topics.NOTICES_ACKNOWLEDGED

    notice_id: str = Field(max_length=36, description="The notice acknowledged")
    record_id: str = Field(max_length=36, description="The case record the notice is about")
    recipient_code: str = Field(
        pattern=r"^([0-9]{6}|[0-9]{9})$", description="9-digit street or 6-digit district bureau code"
    )
    route: str = Field(max_length=20, description="Route that caused the notice")
    kind: str = Field(max_length=20, description="Kind of notice (transfer, forward, registration, ...)")
    acknowledged_by: str = Field(max_length=12, description="Code of the office whose key acknowledged (or 'admin')")
    acknowledged_at: ClockTime = Field(description="When it was acknowledged (UTC), with an offset")
