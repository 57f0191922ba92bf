"""The inbox: every notice addressed to a recipient, once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class InboxNotice(SQLModel, table=True):
    __tablename__ = "inbox_notices"

    notice_id: str = Field(primary_key=True, max_length=36)
    recipient_code: str = Field(index=True, max_length=12)
    record_id: str = Field(max_length=36)
    route: str = Field(max_length=20)
    reason: str = Field(max_length=500)
    person: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    issued_at: datetime
    received_at: datetime
