"""Intake's tables: accepted records and the transactional outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class RecordRow(SQLModel, table=True):
    __tablename__ = "records"

    record_id: str = Field(primary_key=True, max_length=36)
    person_key: str = Field(index=True, max_length=64)
    reporting_street: str = Field(index=True, max_length=9)
    residence_street: str = Field(max_length=9)
    record: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    received_at: datetime
    route: str | None = Field(default=None, max_length=20)


class OutboxRow(SQLModel, table=True):
    """An event waiting to be published; written in the same transaction as its record."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=100)
    key: str = Field(max_length=64)
    envelope: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime
    sent_at: datetime | None = Field(default=None, index=True)
