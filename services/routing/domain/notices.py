"""Notices routing plans: to whom, of which kind, with an id stable across replays."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from services.routing.domain.ids import derived_id
from services.routing.domain.recipients import Recipient
from shared.events import NoticeKind

NOTICE_NAMESPACE = uuid.UUID("6f1c2a8e-5d0b-4b9a-9a57-1e0c6f3d2b10")


@dataclass(frozen=True, slots=True)
class PlannedNotice:
    notice_id: str
    record_id: str
    case_version: int
    kind: NoticeKind
    recipient: Recipient
    sender: str  # the office told when the recipient rejects the notice
    reason: str
    # asks the recipient to verify the person: reminded and escalated until answered
    awaits_answer: bool = False
    # "" but for a second notice of one (case version, recipient, kind): see `notice_id`
    occasion: str = ""


def notice_id(*, record_id: str, case_version: int, recipient_code: str, kind: NoticeKind, occasion: str = "") -> str:
    """Derived from (case version, recipient, kind): a replay plans the same id, so a
    duplicate is recognisable and at most one notice exists per triple.

    `occasion` names a step that tells a recipient twice at one version (workflow.VERIFIED: an
    outflow's registration place, told of the move, then of the verification; workflow.REJECTED_BY,
    workflow.ANSWERED); it joins the id only when given, so every other notice keeps the id it has
    always had.
    """
    triple = f"{record_id}/{case_version}/{recipient_code}/{kind.value}"
    return derived_id(NOTICE_NAMESPACE, f"{triple}/{occasion}" if occasion else triple)


def plan(
    *,
    record_id: str,
    case_version: int,
    kind: NoticeKind,
    recipient: Recipient,
    sender: str,
    reason: str,
    awaits_answer: bool = False,
    occasion: str = "",
) -> PlannedNotice:
    return PlannedNotice(
        notice_id=notice_id(
            record_id=record_id, case_version=case_version, recipient_code=recipient.code, kind=kind, occasion=occasion
        ),
        record_id=record_id,
        case_version=case_version,
        kind=kind,
        recipient=recipient,
        sender=sender,
        reason=reason,
        awaits_answer=awaits_answer,
        occasion=occasion,
    )
