"""Routing's tables: one decision per record."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class RoutedRecord(SQLModel, table=True):
    __tablename__ = "routed_records"

    record_id: str = Field(primary_key=True, max_length=36)
    route: str = Field(max_length=20)
    reporting_street: str = Field(max_length=9)
    residence_street: str = Field(max_length=9)
    notice_id: str | None = Field(default=None, max_length=36)
    decided_at: datetime
