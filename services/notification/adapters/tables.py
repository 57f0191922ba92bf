"""Notification's tables: the inbox, webhook subscriptions, deliveries and their attempts, the outbox.

Times are stored as UTC; SQLite gives them back naive, so readers pass them
through `utc()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import JSON, Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel


def utc(value: datetime) -> datetime:
    """`value` in UTC: the store's naive UTC (SQLite), or an aware time in any zone (an event's, local)."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


WEBHOOK_URL_MAX = 2000  # characters of a subscription's URL: the column's bound, checked at the route


def _at(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index))


class InboxNotice(SQLModel, table=True):
    """Every notice addressed to a recipient, once, with how far it got.

    The person and the answer are kept sealed (adapters/sealed.py).
    """

    __tablename__ = "inbox_notices"

    notice_id: str = Field(primary_key=True, max_length=36)
    recipient_code: str = Field(max_length=12)  # looked up through ix_inbox_recipient_issued, which begins with it
    record_id: str = Field(max_length=36)
    route: str = Field(max_length=20)
    kind: str = Field(default="transfer", max_length=20)
    reason: str = Field(max_length=500)
    person_sealed: str = Field(sa_column=Column(Text, nullable=False))
    # the person's keyed HMAC (shared.identity.person_key), the Kafka key of its status events; None: stored
    # before it was kept, and the events open the person for it
    person_key: str | None = Field(default=None, max_length=64)
    issued_at: datetime = _at(index=False)
    received_at: datetime = _at()
    status: str = Field(default="issued", max_length=20)
    delivered_at: datetime | None = _at(nullable=True)
    acknowledged_at: datetime | None = _at(nullable=True)
    answered_at: datetime | None = _at(nullable=True)
    answer_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    answer_expected: bool = Field(default=False)
    answer_due: datetime | None = _at(nullable=True)
    # taken from a partner at the exchange door: about a record of the partner's, so its link carries no grant
    from_partner: bool = Field(default=False)


class StoredNotice(Protocol):
    """What a notice's status event reads of it: an inbox row, or a row of just those columns."""

    @property
    def notice_id(self) -> str: ...
    @property
    def recipient_code(self) -> str: ...
    @property
    def record_id(self) -> str: ...
    @property
    def route(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def person_sealed(self) -> str: ...
    @property
    def person_key(self) -> str | None: ...


class NoticeView(StoredNotice, Protocol):
    """What pushing a notice reads of it: an InboxNotice, or its NoticeValues."""

    @property
    def reason(self) -> str: ...
    @property
    def issued_at(self) -> datetime: ...
    @property
    def answer_expected(self) -> bool: ...
    @property
    def answer_due(self) -> datetime | None: ...
    @property
    def from_partner(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class NoticeValues:
    """An inbox row's columns that a push reads, as plain values.

    The delivery worker's claims carry these rather than InboxNotice objects:
    building an ORM instance cost about a tenth of a millisecond a notice.
    """

    notice_id: str
    recipient_code: str
    record_id: str
    route: str
    kind: str
    reason: str
    person_sealed: str
    person_key: str | None
    issued_at: datetime
    answer_expected: bool
    answer_due: datetime | None
    from_partner: bool

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> NoticeValues:
        return cls(**{name: row[name] for name in NOTICE_VALUES})


NOTICE_VALUES = tuple(f.name for f in fields(NoticeValues))


class WebhookSubscription(SQLModel, table=True):
    """Where a recipient wants its notices pushed; the secret only ever encrypted."""

    __tablename__ = "webhook_subscriptions"

    recipient_code: str = Field(primary_key=True, max_length=12)
    url: str = Field(max_length=WEBHOOK_URL_MAX)
    secret_ciphertext: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _at()
    updated_at: datetime = _at()


@dataclass(frozen=True, slots=True)
class WebhookValues:
    """A subscription's columns that a push reads (see NoticeValues)."""

    url: str
    secret_ciphertext: str


class Delivery(SQLModel, table=True):
    """The push schedule of one notice: survives restarts because it lives here, not in memory."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "state", "next_attempt_at"),)

    notice_id: str = Field(primary_key=True, max_length=36)
    recipient_code: str = Field(index=True, max_length=12)
    state: str = Field(max_length=20)  # pending, delivered, failed, cancelled
    round_attempts: int = 0  # attempts since the last (re)delivery request: drives the backoff
    # which round of pushes this is: each redelivery moves it on (deliveries.new_round), a claim carries it; below
    # deliveries.ROUND_NUMBERS (migration 0016's check), as it wraps there
    round_number: int = 0
    total_attempts: int = 0
    next_attempt_at: datetime | None = _at(nullable=True)
    # the end of the lease a push holds it by (a claim, or a hand-off); cleared when its attempt is recorded
    leased_until: datetime | None = _at(nullable=True)
    last_error: str | None = Field(default=None, max_length=200)
    updated_at: datetime = _at()
    # set for a message to an exchange partner: the division code whose partner carries it
    exchange_code: str | None = Field(default=None, max_length=12)


class ExchangeReceived(SQLModel, table=True):
    """Every message a partner delivered, once: its id makes a second delivery a duplicate.

    For a notice, `local_notice_id` is the inbox notice it became here; the
    answer to that notice is owed to `sender_code`'s partner as message
    `answer_message_id`. For an answer, `notice_id` is our notice it answered.
    """

    __tablename__ = "exchange_received"

    message_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=10)  # notice | answer
    partner: str = Field(max_length=100)
    sender_code: str = Field(max_length=12)
    notice_id: str = Field(max_length=36)
    record_id: str = Field(max_length=36)
    local_notice_id: str | None = Field(default=None, max_length=36, unique=True)
    answer_message_id: str | None = Field(default=None, max_length=64, unique=True)
    received_at: datetime = _at()


class ExchangeSetAside(SQLModel, table=True):
    """A batch file from the FTP platform refused as a whole and moved aside, or lines of a taken batch refused,
    with why (the bureau sees it)."""

    __tablename__ = "exchange_set_aside"

    id: int | None = Field(default=None, primary_key=True)
    file: str = Field(max_length=200)
    sender_code: str | None = Field(default=None, max_length=12)  # as the file says: verified only with `partner`
    partner: str | None = Field(default=None, max_length=100)  # set only once its key checked the file's signature
    reason: str = Field(max_length=300)
    set_aside_at: datetime = _at()


class ExchangeBatchReceived(SQLModel, table=True):
    """An FTP batch our poller took or set aside as a whole, by the keyed digest of its id (the sender's file name:
    domain/orphan_batches.batch_key). Its batch file found alone later is moved where its manifest went."""

    __tablename__ = "exchange_batches_received"

    batch_key: str = Field(primary_key=True, max_length=64)
    outcome: str = Field(max_length=20)  # taken | set_aside: the latest (a batch set aside may be moved back)
    received_at: datetime = _at()


class ExchangeFtpFirstListed(SQLModel, table=True):
    """When the FTP poller first listed a batch file alone (its manifest not beside it), by the keyed digest of
    its folder and name (domain/orphan_batches.listing_key): an orphan's wait survives a restart."""

    __tablename__ = "exchange_ftp_first_listed"

    file_key: str = Field(primary_key=True, max_length=64)
    first_listed_at: datetime = _at(index=True)


class ExchangeBatchSent(SQLModel, table=True):
    """An FTP batch we uploaded, and what its recipient acknowledged of it (nothing yet: all None)."""

    __tablename__ = "exchange_batches_sent"

    batch_id: str = Field(primary_key=True, max_length=200)
    partner: str = Field(max_length=100)
    recipient_code: str = Field(max_length=12)
    sha256: str = Field(max_length=64)
    count: int
    sent_at: datetime = _at()
    outcome: str | None = Field(default=None, max_length=20)  # taken | set_aside, from the acknowledgement
    taken: int | None = None
    refused: int | None = None
    reason: str | None = Field(default=None, max_length=300)
    acknowledged_at: datetime | None = _at(nullable=True)


class ExchangeBatchMessage(SQLModel, table=True):
    """Which messages went in which batch: a message sent again goes in a later batch (a higher id)."""

    __tablename__ = "exchange_batch_messages"
    __table_args__ = (Index("ix_exchange_batch_messages_message", "message_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: str = Field(index=True, max_length=200)
    message_id: str = Field(max_length=64)


class DeliveryAttempt(SQLModel, table=True):
    __tablename__ = "delivery_attempts"

    id: int | None = Field(default=None, primary_key=True)
    notice_id: str = Field(index=True, max_length=36)
    number: int
    attempted_at: datetime = _at()
    status_code: int | None = None
    latency_ms: float
    error: str | None = Field(default=None, max_length=200)


class OutboxRow(SQLModel, table=True):
    """A status event waiting to be published; written in the transaction that changed the status."""

    __tablename__ = "status_outbox"  # not "outbox": intake has one, and SQLModel shares one metadata

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=100)
    key: str = Field(max_length=64)
    envelope: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = _at()
    # indexed for the purge, published rows alone (migration 0017): an index of its NULLs let a plan read every
    # unsent row and sort them on every relay pass
    sent_at: datetime | None = _at(nullable=True)
    # set aside: it can never be published as it is; an admin retries or discards it (shared.db.outbox)
    set_aside_at: datetime | None = _at(nullable=True)
    discarded_at: datetime | None = _at(nullable=True)
    error: str | None = Field(default=None, max_length=500)


class OfficeSession(SQLModel, table=True):
    """A clerk's login on the street office's page: short-lived, server-side.

    The browser holds only a random token (its hash is the key here). The
    office key it was opened with is kept encrypted, so each request is
    authenticated against the key store again (a revoked key ends the
    session at once) and the weekly report is submitted to reporting under
    the clerk's own key. Removed at logout; useless after `expires_at`.
    """

    __tablename__ = "office_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    street: str = Field(max_length=9)
    key_ciphertext: str = Field(sa_column=Column(Text, nullable=False))
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _at()
    expires_at: datetime = _at(index=True)
