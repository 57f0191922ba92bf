"""Reporting's own store: one fact row per record, filled from two topics."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class ReportRecord(SQLModel, table=True):
    """Either event of a record may arrive first; both fill the same row."""

    __tablename__ = "report_records"

    record_id: str = Field(primary_key=True, max_length=36)
    reporting_street: str = Field(index=True, max_length=9)
    week: str = Field(index=True, max_length=8)
    observed_at: datetime
    submitted: bool = False
    route: str | None = Field(default=None, max_length=20)
