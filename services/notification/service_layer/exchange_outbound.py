"""Outbound exchange: the signed request that carries a notice, or an answer we owe, to its partner.

The delivery worker treats a partner like a webhook (same schedule, backoff,
attempt log); this module only says what to send and where: a signed POST
for an https partner, a line of the next batch file for an ftp/ftps one
(exchange_ftp_outbound.py). A code whose
partner is missing or unconfigured is refused at once (the delivery fails
with the reason, the bureau sees it in GET /v1/exchange/partners and the
failed list, and a redelivery after the partners file is fixed sends it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.notification.adapters.delivery_claims import Claim
from services.notification.adapters.exchange_store import ExchangeStore
from services.notification.adapters.ftp_drop import FtpAccount, FtpDrop
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.sender import SendResult
from services.notification.adapters.tables import ExchangeBatchSent, InboxNotice, NoticeView, utc
from services.notification.domain import exchange_crypto as crypto
from services.notification.domain.exchange_batch import Batch
from services.notification.domain.exchange_messages import (
    SENDER_HEADER,
    AnswerPart,
    ExchangeMessage,
    NoticePart,
    SealedAnswer,
    SealedNotice,
    SealedPerson,
    body_of,
    sealed_text,
)
from services.notification.service_layer.exchange_ftp_outbound import FtpBatcher, FtpItem
from shared.clock import Clock
from shared.events import FeedbackResult, NoticeKind, RejectionReason, Route
from shared.exchange.partners import Partner, PartnerTable, Transport


@dataclass(frozen=True, slots=True)
class OwnKeys:
    """This deployment's private halves (settings): what it signs with and what opens what is sealed for it."""

    signing_key: str | None
    sealing_key: str | None
    previous_sealing_key: str | None = None  # during a switch-over: partners may still seal to the old half

    @property
    def previous(self) -> tuple[str, ...]:
        return (self.previous_sealing_key,) if self.previous_sealing_key else ()


@dataclass(frozen=True, slots=True)
class ExchangeRequest:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str


def door_accepted(answer: bytes) -> bool:
    """Whether a partner's 2xx answer is its exchange door's: `{"accepted": true, ...}` (its view of Accepted).
    Anything else answering 2xx (a web server's page, a proxy's, at a URL that misses the door) took nothing."""
    try:
        view = json.loads(answer)
    except ValueError:  # not JSON, not UTF-8
        return False
    return isinstance(view, dict) and view.get("accepted") is True


def signing_headers(partner: Partner, keys: OwnKeys, message_id: str, timestamp: str, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers, signed with the shared secret or our Ed25519 key. ValueError: no key."""
    missing = unsigned_because(partner, keys)
    if missing is not None:
        raise ValueError(missing)
    if partner.keys.secret_env:
        signature = crypto.sign_hmac(os.environ[partner.keys.secret_env], message_id, timestamp, body)
    else:
        assert keys.signing_key is not None
        signature = crypto.sign_ed25519(keys.signing_key, message_id, timestamp, body)
    return {"webhook-id": message_id, "webhook-timestamp": timestamp, "webhook-signature": signature}


def unsigned_because(partner: Partner, keys: OwnKeys) -> str | None:
    """Why nothing to `partner` can be signed (the key its partners-file entry asks for is not there), or None."""
    if partner.keys.secret_env:
        if not os.environ.get(partner.keys.secret_env):
            return f"the variable {partner.keys.secret_env} holding the shared secret is not set"
        return None
    return None if keys.signing_key else "NOTIFICATION_EXCHANGE_SIGNING_KEY is not set"


class OutboundExchange:
    def __init__(
        self,
        *,
        partners: Callable[[], PartnerTable],
        store: ExchangeStore,
        keys: OwnKeys,
        served_districts: list[str],
        clock: Clock,
        sealed: SealedNotices,
        ftp_batch_window_s: float = 0.2,
        ftp_max_batch: int = 500,
        ftp_ca_file: str | None = None,
        ftp_threads: Executor | None = None,
    ) -> None:
        self._partners, self._store, self._keys, self._sealed = partners, store, keys, sealed
        self._ftp_ca_file, self._ftp_threads = ftp_ca_file, ftp_threads
        self._home, self._clock = served_districts[0], clock
        self._batcher = FtpBatcher(
            sign=self.sign,
            record=self._record_batch,
            clock=clock,
            window_s=ftp_batch_window_s,
            max_batch=ftp_max_batch,
            drop=self.ftp_drop,
        )

    async def upload(self, item: FtpItem) -> SendResult:
        """Into the next batch for the item's folder; the batch's upload is this message's attempt."""
        return await self._batcher.send(item)

    def sign(self, partner: Partner, message_id: str, timestamp: str, body: bytes) -> str:
        return signing_headers(partner, self._keys, message_id, timestamp, body)["webhook-signature"]

    def ftp_drop(self, account: FtpAccount) -> FtpDrop:
        """Our account on a partner's platform, worked on the FTP exchange's own threads."""
        return FtpDrop(account, threads=self._ftp_threads)

    def ftp_route(self, partner: Partner, code: str) -> tuple[FtpAccount, str] | Refusal:
        """Our account on the partner's platform and the folder for `code` there (a batch's, or an
        acknowledgement's way); Refusal when the partners file or the environment lacks them."""
        return ftp_route(partner, code, ca_file=self._ftp_ca_file)

    async def _record_batch(self, item: FtpItem, batch: Batch, message_ids: list[str]) -> None:
        sent = ExchangeBatchSent(
            batch_id=batch.batch_id,
            partner=item.partner.name,
            recipient_code=item.recipient,
            sha256=batch.sha256,
            count=len(message_ids),
            sent_at=self._clock.now(),
        )
        await self._store.record_batch(sent, message_ids)

    async def message_for(self, claim: Claim) -> tuple[Partner, ExchangeMessage] | Refusal:
        """The partner and the message (sealed for it) of a due exchange delivery."""
        assert claim.exchange_code is not None
        partner = self._partners().partner_for(claim.exchange_code)
        if partner is None or partner.problems():
            why = "; ".join(partner.problems()) if partner else "no partner carries this code"
            return Refusal(f"exchange partner for {claim.exchange_code} unconfigured: {why}"[:200])
        assert partner.keys.seal_key is not None
        try:
            if claim.notice is not None:
                person = self._sealed.person(claim.notice)
                return partner, _notice_message(claim.notice, person, self._home, partner.keys.seal_key)
            owed = await self._store.answer_owed(claim.notice_id)
            if owed is None:
                return Refusal("nothing to send: no notice or owed answer with this id")
            received, local = owed
            answer = self._sealed.answer(local) or {}
            return partner, _answer_message(claim.notice_id, received.notice_id, local, answer, partner.keys.seal_key)
        except ValidationError as error:  # it would fail at every attempt: fail it now, naming fields, never values
            fields = ", ".join(sorted({".".join(map(str, e["loc"])) for e in error.errors()}))
            return Refusal(f"the message does not fit the exchange format ({fields})"[:200])

    async def request_for(self, claim: Claim) -> ExchangeRequest | FtpItem | Refusal:
        found = await self.message_for(claim)
        if isinstance(found, Refusal):
            return found
        partner, message = found
        if partner.transport is not Transport.HTTPS:
            # the batch is signed when it goes up, with every message waiting for it: a key missing then would
            # count as a passing failure and be retried for a round; as over https, it fails the message now
            missing = unsigned_because(partner, self._keys)
            if missing is not None:
                return Refusal(missing)
            return _ftp_item(partner, message, claim.exchange_code or "", ca_file=self._ftp_ca_file)
        body = body_of(message)
        timestamp = str(int(self._clock.now().timestamp()))
        try:
            headers = signing_headers(partner, self._keys, message.message_id, timestamp, body)
        except ValueError as error:
            return Refusal(str(error))
        path = "/v1/exchange/notices" if message.type == "notice" else "/v1/exchange/answers"
        headers |= {"content-type": "application/json", SENDER_HEADER: message.sender}
        return ExchangeRequest(str(partner.url).rstrip("/") + path, body, headers)


def _ftp_item(partner: Partner, message: ExchangeMessage, code: str, *, ca_file: str | None) -> FtpItem | Refusal:
    """Where on the partner's FTP platform the message goes, with whose credentials; Refusal when unknown."""
    route = ftp_route(partner, code, ca_file=ca_file)
    if isinstance(route, Refusal):
        return route
    account, folder = route
    return FtpItem(partner, account, folder, message.sender, code[:6], body_of(message), message.message_id)


def ftp_route(partner: Partner, code: str, *, ca_file: str | None) -> tuple[FtpAccount, str] | Refusal:
    if partner.ftp is None or partner.transport is Transport.HTTPS:
        return Refusal(f"{partner.name} is not reached through an ftp platform")
    folder = partner.ftp.folder_for(code)
    if folder is None:
        return Refusal(f"{partner.name} names no ftp folder for {code[:6]}")
    user = os.environ.get(partner.ftp.user_env) if partner.ftp.user_env else None
    password = os.environ.get(partner.ftp.password_env) if partner.ftp.password_env else None
    if not user or password is None:
        names = f"{partner.ftp.user_env}/{partner.ftp.password_env}"
        return Refusal(f"the variables {names} with {partner.name}'s ftp account are not set")
    tls = partner.transport is Transport.FTPS
    return FtpAccount(partner.ftp.host, partner.ftp.port, user, password, tls=tls, ca_file=ca_file), folder


def _notice_message(notice: NoticeView, opened: dict[str, Any], home: str, seal_key: str) -> ExchangeMessage:
    person = SealedPerson.model_validate(opened)  # checked as the partner's door will check it
    part = NoticePart(
        notice_id=notice.notice_id,
        record_id=notice.record_id,
        recipient_code=notice.recipient_code,
        route=Route(notice.route),
        kind=NoticeKind(notice.kind),
        reason=notice.reason,
        issued_at=utc(notice.issued_at),
        answer_expected=notice.answer_expected,
        answer_due=utc(notice.answer_due) if notice.answer_due else None,
    )
    sealed = crypto.seal(sealed_text(SealedNotice(person=person)), seal_key)
    return ExchangeMessage(message_id=notice.notice_id, type="notice", sender=home, notice=part, sealed=sealed)


def _answer_message(
    message_id: str, their_notice_id: str, local: InboxNotice, answer: dict[str, Any], seal_key: str
) -> ExchangeMessage:
    part = AnswerPart(
        notice_id=their_notice_id,
        record_id=local.record_id,
        result=FeedbackResult(answer["result"]),
        reason=RejectionReason(answer["reason"]) if answer.get("reason") else None,
        # an admin (or the bureau) answering for the street is the street, to the partner
        answered_by=_code_or(str(answer["answered_by"]), local.recipient_code),
        answered_at=utc(local.answered_at) if local.answered_at else utc(local.received_at),
    )
    private = SealedAnswer(corrections=answer.get("corrections") or {}, note=answer.get("note") or None)
    sealed = crypto.seal(sealed_text(private), seal_key)
    sender = local.recipient_code[:6]
    return ExchangeMessage(message_id=message_id, type="answer", sender=sender, answer=part, sealed=sealed)


def _code_or(answered_by: str, recipient: str) -> str:
    return answered_by if answered_by.isascii() and answered_by.isdigit() and len(answered_by) in (6, 9) else recipient
