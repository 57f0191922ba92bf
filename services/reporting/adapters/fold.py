"""Writes a batch of facts in one transaction, idempotently.

On PostgreSQL the batch is COPied into temporary tables and upserted from
there (pg_fold.py); the statements below are the portable form (SQLite).
Every write is an upsert keyed by the fact's natural id (record id, notice
id, the rejection's event id) that sets what the event carries, so applying
an event twice, or the events of a record in any order, leaves the same
rows. That is what makes at-least-once consumption and `rebuild` exact
without a processed-events table: a batch that is re-delivered after a crash
writes the same values again.
"""

from __future__ import annotations

from collections.abc import Sized
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.pg_fold import (
    ANSWERED_COLUMNS,
    ISSUED_COLUMNS,
    RECORD_FACT_COLUMNS,
    REJECTION_COLUMNS,
    ROUTED_COLUMNS,
    copy_and_upsert,
)
from services.reporting.adapters.tables import notices, records, rejections
from services.reporting.domain.facts import NoticeFact, RecordFact, RejectionFact, RoutedFact


@dataclass
class FoldBatch:
    submitted: dict[str, RecordFact] = field(default_factory=dict)
    routed: dict[str, RoutedFact] = field(default_factory=dict)
    issued: dict[str, NoticeFact] = field(default_factory=dict)
    answered: dict[str, NoticeFact] = field(default_factory=dict)
    rejected: dict[str, RejectionFact] = field(default_factory=dict)

    def add_answer(self, fact: NoticeFact) -> None:
        """The first answer (by time) counts, whatever order the answers arrive in."""
        known = self.answered.get(fact.notice_id)
        if known is None or (fact.answered_at and known.answered_at and fact.answered_at < known.answered_at):
            self.answered[fact.notice_id] = fact

    def __len__(self) -> int:
        parts: tuple[Sized, ...] = (self.submitted, self.routed, self.issued, self.answered, self.rejected)
        return sum(len(part) for part in parts)


# A notice's sender is the street that reported its record; the record may be
# folded before or after the notice, so each batch fills in what it can.
SENDERS = (
    sa.update(notices)
    .where(
        notices.c.sender_street.is_(None),
        notices.c.record_id.is_not(None),
        sa.exists().where(records.c.record_id == notices.c.record_id),
    )
    .values(
        sender_street=sa.select(records.c.reporting_street)
        .where(records.c.record_id == notices.c.record_id)
        .scalar_subquery()
    )
)


class FactWriter:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name

    def _insert(self, table: sa.Table) -> Any:
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    def _earliest(self, left: Any, right: Any) -> Any:
        return (sa.func.least if self._dialect == "postgresql" else sa.func.min)(left, right)

    async def write(self, batch: FoldBatch) -> None:
        async with self._engine.begin() as connection:
            if self._dialect == "postgresql":
                await copy_and_upsert(connection, _rows_in_stage_order(batch))
            else:
                for statement, rows in self._statements(batch):
                    if rows:
                        await connection.execute(statement, rows)
            await connection.execute(SENDERS)

    def _statements(self, batch: FoldBatch) -> list[tuple[Any, list[dict[str, Any]]]]:
        submitted = self._insert(records)
        submitted_columns = [c for c in RecordFact.__slots__ if c != "record_id"]
        routed = self._insert(records)
        issued = self._insert(notices)
        answered = self._insert(notices)
        return [
            (
                submitted.on_conflict_do_update(
                    index_elements=["record_id"],
                    set_={**{c: submitted.excluded[c] for c in submitted_columns}, "submitted": True},
                ),
                [{**asdict(f), "submitted": True} for f in batch.submitted.values()],
            ),
            (
                routed.on_conflict_do_update(index_elements=["record_id"], set_={"route": routed.excluded.route}),
                [{**asdict(f), "submitted": False, "missing_mask": 0} for f in batch.routed.values()],
            ),
            (
                issued.on_conflict_do_update(
                    index_elements=["notice_id"],
                    set_={c: issued.excluded[c] for c in ("record_id", "recipient_code", "route", "issued_at", "week")},
                ),
                [_issued_row(f) for f in batch.issued.values()],
            ),
            (
                answered.on_conflict_do_update(
                    index_elements=["notice_id"],
                    set_={
                        "answered_at": sa.func.coalesce(
                            self._earliest(notices.c.answered_at, answered.excluded.answered_at),
                            answered.excluded.answered_at,
                        ),
                        "answer": sa.case(
                            (
                                sa.or_(
                                    notices.c.answered_at.is_(None),
                                    answered.excluded.answered_at < notices.c.answered_at,
                                ),
                                answered.excluded.answer,
                            ),
                            else_=notices.c.answer,
                        ),
                    },
                ),
                [
                    {"notice_id": f.notice_id, "answered_at": f.answered_at, "answer": f.answer}
                    for f in batch.answered.values()
                ],
            ),
            (
                self._insert(rejections).on_conflict_do_nothing(index_elements=["rejection_id"]),
                [asdict(f) for f in batch.rejected.values()],
            ),
        ]


def _issued_row(fact: NoticeFact) -> dict[str, Any]:
    row = asdict(fact)
    row.pop("answered_at")
    row.pop("answer")
    return row


def _rows_in_stage_order(batch: FoldBatch) -> list[list[tuple[Any, ...]]]:
    def pick(fact: Any, columns: tuple[str, ...]) -> tuple[Any, ...]:
        return tuple(getattr(fact, column) for column in columns)

    # A record submitted and routed within one batch is written once, with its route.
    routes = {record_id: fact.route for record_id, fact in batch.routed.items() if record_id in batch.submitted}
    return [
        [(*pick(f, RECORD_FACT_COLUMNS), routes.get(f.record_id)) for f in batch.submitted.values()],
        [pick(f, ROUTED_COLUMNS) for f in batch.routed.values() if f.record_id not in routes],
        [pick(f, ISSUED_COLUMNS) for f in batch.issued.values()],
        [pick(f, ANSWERED_COLUMNS) for f in batch.answered.values()],
        [pick(f, REJECTION_COLUMNS) for f in batch.rejected.values()],
    ]
