"""Inbound exchange: notices and answers a partner delivers, checked, opened and applied once.

A message is taken only from a configured partner, signed with its key
within the timestamp tolerance, and addressed to what this deployment serves.
Applying it is idempotent by message id: the same POST (or FTP line) twice
changes nothing the second time and is answered as a duplicate, so the
sender may retry freely. An FTP batch is checked as a whole first (its
manifest signed by the partner, the file matching its checksum and opening
with our key), then each of its messages takes this same path; an FTP
acknowledgement's signature is checked here the same way. A partner's notice becomes inbox work here (a
forward becomes the residence street's transfer notice, pushed to its
webhook like any local one); a partner's answer to a notice we sent is
applied as a local answer is (NoticeAnswered through the outbox to routing).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import structlog
from pydantic import BaseModel, ValidationError

from services.notification.adapters.exchange_store import ExchangeStore, NoticeTaken, UnknownNotice
from services.notification.adapters.inbox import AlreadyAnswered, Answer, Inbox
from services.notification.adapters.tables import ExchangeReceived, utc
from services.notification.domain import exchange_crypto as crypto
from services.notification.domain.exchange_ack import Ack
from services.notification.domain.exchange_batch import OpenedBatch, SetAside, open_batch, signed_part
from services.notification.domain.exchange_messages import (
    NEEDS_ZONE,
    SENDER_HEADER,
    ExchangeMessage,
    SealedAnswer,
    SealedNotice,
    arriving_notice,
    times_without_zone,
)
from services.notification.domain.feedback import correction_code_problems, feedback_problems
from services.notification.domain.partner_clock import NOTED_SKEW, counted_answer_time
from services.notification.service_layer.exchange_outbound import OwnKeys
from shared.clock import Clock
from shared.directory import DivisionDirectory
from shared.events import NoticeIssued, NoticePerson
from shared.exchange.partners import Partner, PartnerTable
from shared.http.problems import FieldError, ProblemError, json_pointer

log = structlog.get_logger(__name__)
Part = TypeVar("Part", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Accepted:
    message_id: str
    duplicate: bool

    def view(self) -> dict[str, object]:
        return {"message_id": self.message_id, "accepted": True, "duplicate": self.duplicate}


def _refused(status: int, detail: str) -> ProblemError:
    titles = {401: "Unauthorized", 404: "Not Found", 409: "Conflict", 422: "Unprocessable Content"}
    return ProblemError(status, titles[status], detail)


def _not_a_message(error: ValidationError) -> ProblemError:
    """422 for a signed body that is no exchange message; a time without a time zone is named, with its field
    (the format's, never the partner's own key or a value), for the partner to mend."""
    detail = f"Not an exchange message: {error.error_count()} problems"
    if not (naive := times_without_zone(error)):
        return _refused(422, detail)
    where = ", ".join(json_pointer(location) for location in naive)
    return ProblemError(
        422,
        "Unprocessable Content",
        f"{detail}; {where} {NEEDS_ZONE}.",
        errors=[FieldError.at(location, NEEDS_ZONE) for location in naive],
    )


def _sealed_part(model: type[Part], opened: bytes) -> Part:
    """The sealed part as the format has it; 422 naming where it is not (never a value: it is personal)."""
    try:
        return model.model_validate_json(opened)
    except ValidationError as error:
        where = sorted({json_pointer(e["loc"]) or "(the whole part)" for e in error.errors()})
        raise _refused(422, f"The sealed part does not fit the exchange format at: {', '.join(where)[:300]}.") from None


class ExchangeDoor:
    def __init__(
        self,
        *,
        partners: Callable[[], PartnerTable],
        store: ExchangeStore,
        inbox: Inbox,
        keys: OwnKeys,
        served_districts: list[str],
        clock: Clock,
        directory: DivisionDirectory,
        on_scheduled: Callable[[], None],
        tolerance_s: int = crypto.DEFAULT_TOLERANCE_S,
    ) -> None:
        self._partners, self._store, self._inbox, self._keys = partners, store, inbox, keys
        self._served, self._clock, self._directory = frozenset(served_districts), clock, directory
        self._on_scheduled, self._tolerance_s = on_scheduled, tolerance_s

    def authenticate(self, headers: Mapping[str, str], body: bytes) -> tuple[Partner, ExchangeMessage]:
        """The partner whose key signed this body, and the message; 401 otherwise (no detail that helps a forger)."""
        sender = headers.get(SENDER_HEADER, "")
        partner = self._partners().ready_partner_for(sender) if sender else None
        if partner is None or not self._signed_by(partner, headers, body):
            raise _refused(401, "The message is not signed by a configured exchange partner, or is too old.")
        try:
            message = ExchangeMessage.model_validate_json(body)
        except ValidationError as error:
            raise _not_a_message(error) from error
        if message.sender != sender or message.message_id != headers.get("webhook-id"):
            raise _refused(422, "The message's sender or id differs from its headers.")
        return partner, message

    def batch_sender(self, manifest: dict[str, object], *, max_age_s: int) -> Partner:
        """The partner that signed an FTP batch's manifest (files wait on the platform: `max_age_s`, not the
        request tolerance); SetAside otherwise."""
        sender = str(manifest["sender"])
        partner = self._partners().ready_partner_for(sender)
        if partner is None:
            raise SetAside(f"no configured exchange partner for sender {sender}"[:200])
        if str(manifest["recipient"])[:6] not in self._served:
            raise SetAside(f"batch is for {manifest['recipient']}, which this deployment does not serve")
        if not self._file_signed_by(partner, manifest, signed_part(manifest), max_age_s=max_age_s):
            raise SetAside(f"manifest signature does not verify with {partner.name}'s key (or is too old)")
        return partner

    def ack_sender(self, ack: Ack, *, max_age_s: int) -> Partner:
        """The partner that signed an FTP acknowledgement, checked as a manifest is; SetAside otherwise."""
        partner = self._partners().ready_partner_for(ack.fields.sender)
        if partner is None:
            raise SetAside(f"no configured exchange partner for sender {ack.fields.sender}")
        if not self._file_signed_by(partner, ack.fields.model_dump(), ack.signed, max_age_s=max_age_s):
            raise SetAside(f"acknowledgement signature does not verify with {partner.name}'s key (or is too old)")
        return partner

    def _file_signed_by(self, partner: Partner, fields: Mapping[str, object], signed: bytes, *, max_age_s: int) -> bool:
        headers = {
            "webhook-id": str(fields["batch_id"]),
            "webhook-timestamp": str(fields["timestamp"]),
            "webhook-signature": str(fields["signature"]),
        }
        return self._signed_by(partner, headers, signed, tolerance_s=max_age_s)

    def open_batch(self, manifest: dict[str, object], file: bytes) -> OpenedBatch:
        if not self._keys.sealing_key:
            raise SetAside("this deployment has no NOTIFICATION_EXCHANGE_SEALING_KEY to open the batch")
        return open_batch(manifest, file, self._keys.sealing_key, *self._keys.previous)

    async def apply(self, partner: Partner, message: ExchangeMessage) -> Accepted:
        """A message taken from a checked batch: the same path as the https door's."""
        if message.type == "notice":
            return await self.receive_notice(partner, message)
        return await self.receive_answer(partner, message)

    def _signed_by(
        self, partner: Partner, headers: Mapping[str, str], body: bytes, *, tolerance_s: int | None = None
    ) -> bool:
        now = self._clock.now()
        return any(
            crypto.verify_signature(
                verify_key=checker.verify_key,
                secret=os.environ.get(checker.secret_env) if checker.secret_env else None,
                msg_id=headers.get("webhook-id", ""),
                timestamp=headers.get("webhook-timestamp", ""),
                body=body,
                received=headers.get("webhook-signature", ""),
                now_s=now.timestamp(),
                tolerance_s=tolerance_s or self._tolerance_s,
            )
            for checker in partner.keys.checkers(now)  # the previous key too, during its switch-over
        )

    def _open(self, sealed: str) -> bytes:
        if not self._keys.sealing_key:
            raise _refused(422, "This deployment has no NOTIFICATION_EXCHANGE_SEALING_KEY to open the message.")
        try:
            return crypto.open_sealed(sealed, self._keys.sealing_key, *self._keys.previous)
        except crypto.BadSeal as error:
            raise _refused(422, str(error)) from error

    async def receive_notice(self, partner: Partner, message: ExchangeMessage) -> Accepted:
        if message.type != "notice" or message.notice is None:
            raise _refused(422, "POST notices to /v1/exchange/notices, answers to /v1/exchange/answers.")
        if message.notice.recipient_code[:6] not in self._served:
            raise _refused(422, f"{message.notice.recipient_code} is not served by this deployment.")
        private = _sealed_part(SealedNotice, self._open(message.sealed))
        person = NoticePerson.model_validate(private.person.model_dump())  # checked as a partner's: kept as a notice's
        fields = arriving_notice(message.notice, person, self._served, self._directory)
        notice = NoticeIssued(**fields, exchange_endpoint=None)
        received = ExchangeReceived(
            message_id=message.message_id,
            kind="notice",
            partner=partner.name,
            sender_code=message.sender,
            notice_id=message.notice.notice_id,
            record_id=message.notice.record_id,
            local_notice_id=notice.notice_id,
            received_at=self._clock.now(),
        )
        try:
            scheduled = await self._store.receive_notice(received, notice, now=self._clock.now())
        except NoticeTaken as error:
            log.warning(
                "exchange notice refused: its id is taken here", partner=partner.name, notice_id=notice.notice_id
            )
            raise _refused(409, "A notice with this id is already held here, not from your deployment.") from error
        if scheduled:
            self._on_scheduled()
        log.info(
            "exchange notice received", partner=partner.name, notice_id=notice.notice_id, duplicate=scheduled is None
        )
        return Accepted(message.message_id, duplicate=scheduled is None)

    async def receive_answer(self, partner: Partner, message: ExchangeMessage) -> Accepted:
        if message.type != "answer" or message.answer is None:
            raise _refused(422, "POST answers to /v1/exchange/answers, notices to /v1/exchange/notices.")
        part = message.answer
        ours = await self._inbox.get(part.notice_id)
        # a notice to one of our own streets never went to a partner, whatever carries its code
        # (the partners file's `[default]` matches every code no prefix does, ours included)
        carrier = None
        if ours is not None and ours.recipient_code[:6] not in self._served:
            carrier = self._partners().partner_for(ours.recipient_code)
        if ours is None or carrier is None or carrier.name != partner.name:
            raise _refused(404, "No notice of ours was sent to this partner under that id.")
        private = _sealed_part(SealedAnswer, self._open(message.sealed))
        problems = feedback_problems(result=part.result, corrections=private.corrections, reason=part.reason)
        # as a street's own answer: a code not current in the directory would be taken here and dead-lettered by
        # routing, the partner never told
        problems += correction_code_problems(private.corrections, self._directory)
        if problems:
            raise _refused(422, "; ".join(".".join(where) + " " + what for where, what in problems))
        answer = Answer(part.result, private.corrections, part.reason, private.note or "", part.answered_by)
        now = self._clock.now()
        answered_at, skew = counted_answer_time(part.answered_at, issued_at=utc(ours.issued_at), received_at=now)
        received = ExchangeReceived(
            message_id=message.message_id,
            kind="answer",
            partner=partner.name,
            sender_code=message.sender,
            notice_id=part.notice_id,
            record_id=part.record_id,
            received_at=now,
        )
        try:
            fresh = await self._store.receive_answer(received, answer, now=answered_at)
        except UnknownNotice as error:
            raise _refused(404, "No notice of ours was sent to this partner under that id.") from error
        except AlreadyAnswered as error:
            raise _refused(409, "This notice has already been answered; an answer cannot be changed.") from error
        if fresh and abs(skew) > NOTED_SKEW:  # said once, for the answer counted: not for each copy of it
            log.warning(
                "partner's answer dated outside its notice's life, counted at the nearer bound",
                partner=partner.name,
                notice_id=part.notice_id,
                off_by_s=round(skew.total_seconds()),
            )
        log.info("exchange answer received", partner=partner.name, notice_id=part.notice_id, duplicate=not fresh)
        return Accepted(message.message_id, duplicate=not fresh)
