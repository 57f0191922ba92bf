"""Routing's tables: decisions, cases (versioned), notices, the review queue.

A case keeps the least the follow-up notices need to identify the person
(name, identity number, residence and registration addresses), sealed in
`person_sealed` (shared.sealing, bound to the record id); look-ups go through
the blind index `person_key`. Certificate and employer data never reach
routing's store.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class RoutedRecord(SQLModel, table=True):
    """The routing decision per record; the row `popflow routing rebuild` must reproduce."""

    __tablename__ = "routed_records"

    record_id: str = Field(primary_key=True, max_length=36)
    route: str = Field(max_length=20)
    reporting_street: str = Field(max_length=9)
    residence_street: str = Field(max_length=9)
    notice_id: str | None = Field(default=None, max_length=36)
    decided_at: datetime
    # which retired codes of the record were mapped to their successors before deciding
    note: str | None = Field(default=None, max_length=500)


class CaseRow(SQLModel, table=True):
    __tablename__ = "cases"

    record_id: str = Field(primary_key=True, max_length=36)
    person_key: str = Field(index=True, max_length=64)
    version: int
    status: str = Field(max_length=24)
    event: str = Field(max_length=20)
    route: str = Field(max_length=20)
    reporting_street: str = Field(max_length=9)
    residence_street: str = Field(max_length=9)
    registration_division: str = Field(max_length=9)
    person_sealed: str = Field(sa_column=Column(Text, nullable=False))
    observed_at: datetime
    updated_at: datetime
    # when an outflow said the person left this case's residence (migration 0010): its notices are not
    # followed up; an outflow's own case, living at the new residence, is `inflow_then_outflow` without it
    left_at: datetime | None = Field(default=None)


class NoticeRow(SQLModel, table=True):
    """One notice; at most one per (case version, recipient, kind), but for a second one
    of a named occasion (domain/notices.py notice_id; migration 0007)."""

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("record_id", "case_version", "recipient_code", "kind", "occasion", name="uq_notice_once"),
    )

    notice_id: str = Field(primary_key=True, max_length=36)
    record_id: str = Field(max_length=36)  # looked up through uq_notice_once, which begins with it
    case_version: int
    kind: str = Field(max_length=20)
    recipient_code: str = Field(max_length=9)
    exchange_endpoint: str | None = Field(default=None, max_length=100)
    sender_code: str = Field(max_length=9)
    reason: str = Field(max_length=300)
    awaits_answer: bool
    occasion: str = Field(default="", max_length=20)
    issued_at: datetime
    answered_at: datetime | None = Field(default=None)
    result: str | None = Field(default=None, max_length=20)
    reminded_at: datetime | None = Field(default=None)
    escalated_at: datetime | None = Field(default=None)


class ReviewItem(SQLModel, table=True):
    """A record routing could not decide, waiting for the bureau; open while `resolved_at` is empty.

    `record_sealed` keeps the record's routing fields only (domain/review.py
    ROUTING_FIELDS: no certificate, employer or phone), sealed and bound to
    the record id (adapters/review_store.py), so a corrected code can route it again.
    """

    __tablename__ = "review_queue"

    record_id: str = Field(primary_key=True, max_length=36)
    field: str = Field(max_length=40)
    reason: str = Field(max_length=200)
    kind: str = Field(default="unknown", max_length=10)  # unknown, or retired (in an earlier edition)
    reporting_street: str = Field(max_length=12)
    received_at: datetime
    record_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    resolution: str | None = Field(default=None, max_length=20)
    resolved_code: str | None = Field(default=None, max_length=9)
    resolution_note: str | None = Field(default=None, max_length=300)
    resolved_by: str | None = Field(default=None, max_length=12)
    resolved_at: datetime | None = Field(default=None)


class ParkedAnswer(SQLModel, table=True):
    """An answer to a notice this store does not hold yet, kept until it does (service_layer/parked.py).

    A notice reaches the topic before the batch that writes its row commits, and a batch that fails
    after handing over its first runs' events commits only when it is tried again: an answer given
    in between finds no notice. It waits here, applied once the notice is written, in the order it
    came (`seq`), or set aside as a dead letter when no notice comes. `body_sealed` is the message
    as it came, sealed whole (shared.sealing, bound to the event id).
    """

    __tablename__ = "parked_answers"

    # SQLite numbers a row by itself only for an INTEGER primary key
    seq: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    )
    event_id: str = Field(max_length=36, unique=True)
    notice_id: str = Field(max_length=36, index=True)
    record_id: str = Field(max_length=36, index=True)  # a record's later answers wait behind its parked ones
    body_sealed: str = Field(sa_column=Column(Text, nullable=False))
    source_topic: str = Field(max_length=255)
    source_partition: int | None = Field(default=None)
    source_offset: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    parked_at: datetime
