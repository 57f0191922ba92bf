"""Notices: what a recipient office is told about a case."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from shared import topics
from shared.events.envelope import Event, Upcaster, register
from shared.events.routing import Route


class NoticePerson(BaseModel):
    """Only what the recipient needs to find the person."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Full name")
    id_number: str = Field(description="Resident identity number")
    residence_address: str = Field(description="Where the person lives now")
    residence_street: str | None = Field(
        default=None,
        description="9-digit street code of the residence: lets another district's exchange door "
        "pass a forwarded notice on to the street (absent in notices issued before the exchange)",
    )


class NoticeKind(StrEnum):
    """Why a notice exists; at most one per (case version, recipient, kind)."""

    TRANSFER = "transfer"  # the person lives in the recipient's area: verify
    FORWARD = "forward"  # bureau to bureau, for an inter-district case
    FEEDBACK = "feedback"  # the residence side's answer, relayed back to the reporting bureau
    REGISTRATION = "registration"  # to the household-registration place, once verified
    RECHECK = "recheck"  # not found at the residence: the reporting street checks again
    REJECTION = "rejection"  # the recipient refused the notice, with a reason code
    CHANGE = "change"  # a change of circumstances
    REMINDER = "reminder"  # unanswered after N working days
    ESCALATION = "escalation"  # unanswered after 2N working days: to the bureau


def _v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    # version 1 only ever carried transfer notices, delivered within the deployment
    return {**payload, "kind": NoticeKind.TRANSFER.value, "exchange_endpoint": None}


@register
class NoticeIssued(Event):
    """A notice was issued to one recipient.

    Version 2 added `kind` and `exchange_endpoint` (v1 payloads are upcast to
    kind "transfer", delivered within the deployment).
    """

    TYPE: ClassVar[str] = "NoticeIssued"
    VERSION: ClassVar[int] = 2
    TOPIC: ClassVar[str] = topics.NOTICES_ISSUED
    UPCASTERS: ClassVar[dict[int, Upcaster]] = {1: _v1_to_v2}

    notice_id: str = Field(description="Unique, stable id of the notice; duplicates share it")
    record_id: str = Field(description="The case record the notice is about")
    recipient_code: str = Field(description="9-digit street or 6-digit district bureau code")
    route: Route = Field(description="Route that caused the notice")
    reason: str = Field(description="Why the recipient is notified, in words")
    person: NoticePerson = Field(description="The person, with the least detail needed")
    issued_at: datetime = Field(description="When routing issued the notice (UTC)")
    kind: NoticeKind = Field(description="transfer, forward, registration, recheck, reminder, ...")
    exchange_endpoint: str | None = Field(
        default=None,
        description="External exchange endpoint that carries the notice to a recipient outside "
        "this deployment (city exchange, provincial platform); null for the deployment's own recipients",
    )
