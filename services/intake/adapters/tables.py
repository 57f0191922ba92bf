"""Intake's tables: records and their cases, the outbox, idempotency keys, the read audit."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel


class RecordRow(SQLModel, table=True):
    """One accepted record. `person_sealed` holds the person (AES-GCM); `record` holds the rest, its
    addresses and employer sealed in place (services/intake/adapters/sealed.py)."""

    __tablename__ = "records"

    record_id: str = Field(primary_key=True, max_length=36)
    person_key: str = Field(index=True, max_length=64)
    reporting_street: str = Field(index=True, max_length=9)
    residence_street: str = Field(max_length=9)
    record: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    received_at: datetime
    route: str | None = Field(default=None, max_length=20)
    case_id: str | None = Field(default=None, index=True, max_length=36)
    case_version: int = 1
    source_ref: str | None = Field(default=None, unique=True, max_length=120)
    person_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class PersonCaseRow(SQLModel, table=True):
    """One person's case: every record of the same identity number is a version of it."""

    __tablename__ = "person_cases"  # routing has its own "cases"; one process may import both

    case_id: str = Field(primary_key=True, max_length=36)
    person_key: str = Field(unique=True, max_length=64)
    versions: int = 0
    created_at: datetime


class OutboxRow(SQLModel, table=True):
    """An event waiting to be published; written in the same transaction as its record.

    Envelopes that carry personal data are kept sealed: {"event_id", "type", "sealed"}.
    """

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=100)
    key: str = Field(max_length=64)
    envelope: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime
    # indexed for the purge, published rows alone (migration 0009): an index of its NULLs let a plan read every
    # unsent row and sort them on every relay pass
    sent_at: datetime | None = Field(default=None)
    # set aside: it can never be published as it is; an admin retries or discards it (shared.db.outbox)
    set_aside_at: datetime | None = Field(default=None)
    discarded_at: datetime | None = Field(default=None)
    error: str | None = Field(default=None, max_length=500)


class KeyKind(StrEnum):
    """Whose Idempotency-Key a row holds: a single POST's, or one row's of a bulk import (`KEY#row`).

    Two namespaces, so that a POST's key `abc#3` and row 3 of a bulk import under `abc` never meet;
    migration 0008 says what became of the keys stored before there were two."""

    REQUEST = "request"
    BULK_ROW = "bulk-row"


class IdempotencyRow(SQLModel, table=True):
    """The first answer to a request (or a bulk row) sent with an Idempotency-Key, per API key and kind."""

    __tablename__ = "idempotency_keys"

    key: str = Field(primary_key=True, max_length=260)
    kind: str = Field(primary_key=True, max_length=10)
    fingerprint: str = Field(max_length=64)
    record_id: str = Field(max_length=36)
    created_at: datetime


class ReadAuditRow(SQLModel, table=True):
    """Who read which records, when and why."""

    __tablename__ = "read_audit"

    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(index=True, max_length=16)
    scope: str = Field(max_length=30)
    action: str = Field(max_length=20)
    purpose: str = Field(default="", max_length=200)
    record_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    read_at: datetime = Field(index=True)


class NoticeRecipientRow(SQLModel, table=True):
    """Who each notice went to (from notices.issued): the recipient may open the record behind it."""

    __tablename__ = "notice_recipients"

    notice_id: str = Field(primary_key=True, max_length=36)
    record_id: str = Field(max_length=36)
    recipient_code: str = Field(max_length=12)
    kind: str = Field(max_length=20)
    issued_at: datetime
