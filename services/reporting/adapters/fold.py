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

import dataclasses
import operator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.pg_fold import (
    ANSWERED_COLUMNS,
    ISSUED_COLUMNS,
    RECORD_FACT_COLUMNS,
    REJECTION_COLUMNS,
    ROUTED_COLUMNS,
    copy_and_upsert,
)
from services.reporting.adapters.portable_fold import portable_statements
from services.reporting.adapters.tables import notices, records
from services.reporting.domain.batch import FoldBatch
from services.reporting.domain.facts import RecordFact, RoutedFact
from shared.db.engine import PLANNED_IN_THIS_TRANSACTION


# A notice's sender is the street that reported its record; the record may be
# folded before or after the notice, and its street may change once routing has
# decided (a retired street's successor, a bureau's correction), so each batch
# fills in or corrects what it can. Only the notices of the batch's records can
# have changed (their record or their notice came in this batch), so only those
# are looked at, by their record's index: notices whose record never comes (a
# case from another district) are not scanned again by every later batch.
def _senders(of_records: sa.ColumnElement[bool]) -> sa.Update:
    street = sa.select(records.c.reporting_street).where(records.c.record_id == notices.c.record_id).scalar_subquery()
    return (
        sa.update(notices)
        .where(
            of_records,
            sa.exists().where(records.c.record_id == notices.c.record_id),
            notices.c.sender_street.is_distinct_from(street),
        )
        .values(sender_street=street)
    )


SENDERS = {
    "postgresql": _senders(notices.c.record_id == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.String)))),
    "sqlite": _senders(notices.c.record_id.in_(sa.bindparam("ids", expanding=True))),
}


class FactWriter:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name

    async def write(self, batch: FoldBatch) -> None:
        async with self._engine.begin() as connection:
            if self._dialect == "postgresql":
                # The senders' update is the batch's one prepared statement. Its generic plan, once PostgreSQL has made
                # one, is kept for the connection's life: one made while the store was young (a new deployment, a
                # `rebuild`, notices folded before their records) walks the batch's records as a handful of rows and
                # probes the notices for each with the whole array, sorted again at every probe. With 4,500 records in
                # the batch that took 17.6 s where a plan for the tables as they are took 0.05 (docs/performance.md,
                # round 54). Planned for each batch instead: about a millisecond, once per batch of thousands of events.
                await connection.execute(PLANNED_IN_THIS_TRANSACTION)
                await copy_and_upsert(connection, _rows_in_stage_order(batch))
            else:
                for statement, rows in portable_statements(batch):
                    if rows:
                        await connection.execute(statement, rows)
            ids = batch.record_ids()
            if ids:
                await connection.execute(SENDERS[self._dialect], {"ids": list(ids)})


_SUBMITTED = operator.attrgetter(*RECORD_FACT_COLUMNS)
_ROUTED = operator.attrgetter(*ROUTED_COLUMNS)
_ISSUED = operator.attrgetter(*ISSUED_COLUMNS)
_ANSWERED = operator.attrgetter(*ANSWERED_COLUMNS)
_REJECTED = operator.attrgetter(*REJECTION_COLUMNS)


def _rows_in_stage_order(batch: FoldBatch) -> list[list[tuple[Any, ...]]]:
    # A record submitted and routed within one batch is written once, with its route and routing's street.
    return [
        [_submitted_row(f, batch.routed.get(f.record_id)) for f in batch.submitted.values()],
        [_ROUTED(f) for f in batch.routed.values() if f.record_id not in batch.submitted],
        [_ISSUED(f) for f in batch.issued.values()],
        [_ANSWERED(f) for f in batch.answered.values()],
        [_REJECTED(f) for f in batch.rejected.values()],
    ]


def _submitted_row(fact: RecordFact, routed: RoutedFact | None) -> tuple[Any, ...]:
    """A submitted record's row, with its route and routing's street when the batch routed it too."""
    if routed is None:
        return (*_SUBMITTED(fact), None)
    return (*_SUBMITTED(dataclasses.replace(fact, reporting_street=routed.reporting_street)), routed.route)
