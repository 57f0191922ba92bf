"""Notices: what a recipient office is told about a case."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from shared import topics
from shared.events.envelope import Event, Upcaster, register
from shared.events.records import ClockTime
from shared.events.routing import Route


class NoticePerson(BaseModel):
    """Only what the recipient needs to find the person."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(max_length=50, description="Full name")
    id_number: str = Field(max_length=18, description="Resident identity number")
    residence_address: str = Field(max_length=200, description="Where the person lives now")
    residence_street: str | None = Field(
        default=None,
        max_length=9,
        description="9-digit street code of the residence: lets another district's exchange door "
        "pass a forwarded notice on to the street (absent in notices issued before the exchange)",
    )


REASON_MAX_LENGTH = 300  # a notice's reason, in the event and in the exchange format


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


def _v2_to_v3(payload: dict[str, Any]) -> dict[str, Any]:
    # version 2 did not say; routing awaited forwards and cross-street transfers, and
    # the deadline it kept is not in the payload
    kind, route = payload.get("kind"), payload.get("route")
    expected = kind == NoticeKind.FORWARD.value or (kind == NoticeKind.TRANSFER.value and route == "cross-street")
    return {**payload, "answer_expected": expected, "answer_due": None}


def _v3_to_v4(payload: dict[str, Any]) -> dict[str, Any]:
    # version 4 changed the wire only (the person travels sealed): same shape
    return payload


@register
class NoticeIssued(Event):
    """A notice was issued to one recipient.

    Version 2 added `kind` and `exchange_endpoint` (v1 payloads are upcast to
    kind "transfer", delivered within the deployment). Version 3 added
    `answer_expected` and `answer_due` (v2 payloads are upcast with the answer
    expected of forwards and cross-street transfers, and no due time).
    Version 4: `person` travels sealed (shared.sealing); older payloads carry
    it in clear.
    """

    TYPE: ClassVar[str] = "NoticeIssued"
    VERSION: ClassVar[int] = 4
    TOPIC: ClassVar[str] = topics.NOTICES_ISSUED
    UPCASTERS: ClassVar[dict[int, Upcaster]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}
    SEALED: ClassVar[tuple[str, ...]] = ("person",)
    SEALED_SINCE: ClassVar[int] = 4

    notice_id: str = Field(max_length=36, description="Unique, stable id of the notice; duplicates share it")
    record_id: str = Field(max_length=36, description="The case record the notice is about")
    recipient_code: str = Field(
        pattern=r"^([0-9]{6}|[0-9]{9})$", description="9-digit street or 6-digit district bureau code"
    )
    route: Route = Field(description="Route that caused the notice")
    reason: str = Field(
        max_length=REASON_MAX_LENGTH, description="Why the recipient is notified, in words (at most 300)"
    )
    person: NoticePerson = Field(description="The person, with the least detail needed")
    issued_at: ClockTime = Field(description="When routing issued the notice (UTC), with an offset")
    kind: NoticeKind = Field(description="transfer, forward, registration, recheck, reminder, ...")
    exchange_endpoint: str | None = Field(
        default=None,
        max_length=100,
        description="External exchange endpoint that carries the notice to a recipient outside "
        "this deployment (city exchange, provincial platform); null for the deployment's own recipients",
    )
    answer_expected: bool = Field(
        description="Whether the recipient is asked to answer (confirmed, corrected, not found or rejected); "
        "an unanswered notice that expects an answer is reminded, then escalated to the bureau"
    )
    answer_due: ClockTime | None = Field(
        default=None,
        description="When an expected answer is overdue: from this moment (start of the N-th working day "
        "after issue, deployment time zone, with its offset) the notice is reminded; null when no answer is expected",
    )
