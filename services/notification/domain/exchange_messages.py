"""What travels between deployments: a notice or an answer, its personal part sealed for the recipient.

    {"message_id": ..., "type": "notice", "sender": "440111",
     "notice": {"notice_id", "record_id", "recipient_code", "route", "kind", "reason", "issued_at",
                "answer_expected", "answer_due"},
     "sealed": "<base64 sealed box of {"person": {...}}>"}

    {"message_id": ..., "type": "answer", "sender": "440106",
     "answer": {"notice_id", "record_id", "result", "reason", "answered_by", "answered_at"},
     "sealed": "<base64 sealed box of {"corrections": {...}, "note": ...}>"}

Only codes, ids, kinds and times are readable on the way; names, identity
numbers, addresses and free text are inside the sealed part. The same
document is the body of an https POST and one line of an FTP batch file.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.directory import DivisionDirectory, DivisionLevel
from shared.events import FeedbackResult, NoticeKind, NoticePerson, RejectionReason, Route
from shared.events.notices import REASON_MAX_LENGTH
from shared.events.records import ClockTime, IdNumber

SENDER_HEADER = "PopFlow-Exchange-Sender"
# A notice's id as a partner may send it: the shape of PopFlow's own (a UUID's text) and of every route that
# names a notice (`/v1/notices/{id}`, the office's pages, the exchange's redelivery). An id with `/` (or `..`,
# a space, a control character) was stored and pushed, but no route could name it, so the answer owed to
# the partner could never be given; it is refused at the door instead (422, the field named).
EXCHANGE_ID = r"^[0-9A-Za-z-]{1,36}$"
TRANSFER_NAMESPACE = uuid.UUID("9b2e4c6a-1d3f-4a5b-8c7d-0e1f2a3b4c5d")


# A partner's time must say its zone: 2027-02-24T10:30:00 is 10:30 in Beijing or 18:30 there, read as UTC
NEEDS_ZONE = "needs a time zone (an offset, e.g. +08:00)"


def times_without_zone(error: ValidationError) -> list[tuple[str | int, ...]]:
    """Where a message that does not read has a time without a time zone: fields of the format (notice.issued_at),
    never a partner's own key or value, so they may be said to the partner, in a log line or an acknowledgement."""
    return list(dict.fromkeys(tuple(e["loc"]) for e in error.errors() if e["type"] == "timezone_aware"))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NoticePart(_Frozen):
    notice_id: str = Field(pattern=EXCHANGE_ID)
    record_id: str = Field(max_length=36)
    recipient_code: str = Field(pattern=r"^([0-9]{6}|[0-9]{9})$")
    route: Route
    kind: NoticeKind
    reason: str = Field(max_length=REASON_MAX_LENGTH)  # the notice's own bound: a longer one could never land
    issued_at: ClockTime
    answer_expected: bool = False
    answer_due: ClockTime | None = None


class AnswerPart(_Frozen):
    notice_id: str = Field(pattern=EXCHANGE_ID)
    record_id: str = Field(max_length=36)
    result: FeedbackResult
    reason: RejectionReason | None = None
    answered_by: str = Field(pattern=r"^([0-9]{6}|[0-9]{9})$")
    answered_at: ClockTime


class ExchangeMessage(_Frozen):
    message_id: str = Field(max_length=64)
    type: Literal["notice", "answer"]
    sender: str = Field(pattern=r"^[0-9]{6}$", description="The sending district")
    notice: NoticePart | None = None
    answer: AnswerPart | None = None
    sealed: str = Field(max_length=20_000, description="The personal part, sealed for the recipient")


class SealedPerson(NoticePerson):
    """The person as a partner sends it: the identity number checked as intake checks it, since it keys the
    person's events here (shared.identity.person_key); the residence street a street code, since a forward's
    becomes its transfer's recipient here (arriving_notice)."""

    id_number: IdNumber = Field(max_length=18, description="Resident identity number")
    residence_street: str | None = Field(
        default=None, pattern=r"^[0-9]{9}$", description="9-digit street code of the residence"
    )


class SealedNotice(_Frozen):
    person: SealedPerson


class SealedAnswer(_Frozen):
    corrections: dict[str, str] = Field(default_factory=dict)
    note: str | None = Field(default=None, max_length=500)


def body_of(message: ExchangeMessage) -> bytes:
    """Compact UTF-8 JSON: the exact bytes that are signed and sent."""
    return json.dumps(
        message.model_dump(mode="json", exclude_none=True), ensure_ascii=False, separators=(",", ":")
    ).encode()


def sealed_text(part: BaseModel) -> bytes:
    return part.model_dump_json(exclude_none=True).encode()


def local_transfer_id(partner_notice_id: str, street: str) -> str:
    """The id of the transfer notice a partner's forward becomes here: the same on every delivery."""
    return str(uuid.uuid5(TRANSFER_NAMESPACE, f"{partner_notice_id}/{street}"))


def arriving_notice(
    notice: NoticePart, person: NoticePerson, served: frozenset[str], directory: DivisionDirectory
) -> dict[str, Any]:
    """The notice as it lands here (NoticeIssued fields).

    A forward to our bureau becomes work for the residence street, exactly as
    a local cross-street case: a transfer notice to that street. Every other
    kind lands with its addressee as sent, and so does a forward whose street
    is no street of the directory (a partner's typo, a street since retired):
    its transfer would wait in an inbox no office reads, and the partner never
    hear back; with the bureau, someone routes it by hand and answers. For the
    same reason a notice of any kind addressed to a street the directory does
    not know lands with that street's bureau, its reason saying where it was
    sent.
    """
    street = person.residence_street
    fields: dict[str, Any] = notice.model_dump()
    fields["person"] = person
    if notice.kind is NoticeKind.FORWARD and street and _our_street(street, notice.recipient_code, served, directory):
        fields |= {
            "notice_id": local_transfer_id(notice.notice_id, street),
            "recipient_code": street,
            "kind": NoticeKind.TRANSFER,
            "reason": "person lives in your street (a case from another district); please verify",
        }
    elif len(addressee := notice.recipient_code) == STREET_CODE and not directory.exists(
        addressee, DivisionLevel.STREET
    ):
        fields |= {
            "recipient_code": addressee[:DISTRICT_CODE],
            "reason": sent_to_unknown_street(notice.reason, addressee),
        }
    return fields


STREET_CODE, DISTRICT_CODE = 9, 6


def sent_to_unknown_street(reason: str, street: str) -> str:
    """The partner's reason with where it sent the notice, within the reason's bound (the partner's text cut)."""
    note = f" [sent to {street}, a street the directory does not know]"
    return reason[: REASON_MAX_LENGTH - len(note)] + note


def _our_street(street: str, bureau: str, served: frozenset[str], directory: DivisionDirectory) -> bool:
    """True when `street` is a street of the directory in `bureau`'s district, one this deployment serves."""
    return street[:6] == bureau and bureau in served and directory.exists(street, DivisionLevel.STREET)
