"""Notices: what a recipient office is told about a case."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from shared import topics
from shared.events.envelope import Event, register
from shared.events.routing import Route


class NoticePerson(BaseModel):
    """Only what the recipient needs to find the person."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Full name")
    id_number: str = Field(description="Resident identity number")
    residence_address: str = Field(description="Where the person lives now")


@register
class NoticeIssued(Event):
    """A transfer notice was issued to one recipient."""

    TYPE: ClassVar[str] = "NoticeIssued"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = topics.NOTICES_ISSUED

    notice_id: str = Field(description="Unique, stable id of the notice; duplicates share it")
    record_id: str = Field(description="The case record the notice is about")
    recipient_code: str = Field(description="9-digit street or 6-digit district bureau code")
    route: Route = Field(description="Route that caused the notice")
    reason: str = Field(description="Why the recipient is notified, in words")
    person: NoticePerson = Field(description="The person, with the least detail needed")
    issued_at: datetime = Field(description="When routing issued the notice (UTC)")
