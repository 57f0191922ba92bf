"""Stores accepted records with their cases and outbox rows, and reads them back.

A batch goes in as one statement when it can (record_statements.py), else the careful way
(batch_writes.py: duplicates and lock order); either is tried again as batch_retries.py says.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.intake.adapters.batch_items import EventFor, HeadFor, NewRecord, Stored
from services.intake.adapters.batch_retries import attempts
from services.intake.adapters.batch_writes import HELD_FROM_TRY, hold_writers, in_turn, write_carefully
from services.intake.adapters.duplicates import fresh_indexes, new_keys, resolve
from services.intake.adapters.record_statements import ONE_STATEMENT
from services.intake.adapters.row_inserts import COPY_FROM, as_sqlalchemy_errors, core_table
from services.intake.adapters.tables import OutboxRow, RecordRow
from shared.db import bulk
from shared.db.engine import PLANNED_IN_THIS_TRANSACTION, SingleStatements
from shared.ids import new_id


class RecordRepository:
    """Intake's one way into its records: submissions, routes and reads. A record, its case count and the
    outbox rows of its events are written in one unit, so no record is kept without the events that tell of it."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._single_statements = SingleStatements(sessions)
        self._reads = self._single_statements.read_sessions()  # a read of one statement

    async def write_batch(
        self,
        items: Sequence[NewRecord],
        event_for: EventFor,
        head_for: HeadFor | None = None,
        *,
        outage_s: float = 0.0,
    ) -> list[Stored]:
        """One outcome per item, in order; the records and their events are kept, or none.

        With `head_for` on PostgreSQL, a batch below COPY_FROM first goes in as one
        statement, without looking for earlier submissions: a duplicate or a
        conflict breaks a unique constraint, and the batch is then written the
        careful way (look first, then insert, in a transaction), as a batch that
        met a concurrent writer always was. Tries are counted by `attempts`; with `outage_s` a store that cannot
        be reached is waited for that long. From HELD_FROM_TRY on, a try holds the tables against other writers
        first (batch_writes.hold_writers), so concurrent writers of its refs cannot fail every try.
        """
        postgres = self._single_statements.postgres
        async for attempt in attempts(len(items), outage_s=outage_s):
            with attempt:
                tried = attempt.retry_state.attempt_number
                if tried == 1 and head_for is not None and postgres and len(items) < COPY_FROM:
                    return await self._write_at_once(items, head_for)
                async with self._sessions.begin() as session:
                    if tried >= HELD_FROM_TRY:
                        await hold_writers(session)
                    return await write_carefully(session, items, event_for)
        raise AssertionError("unreachable")

    async def _write_at_once(self, items: Sequence[NewRecord], head_for: HeadFor) -> list[Stored]:
        """`write_carefully` as one statement, sent alone (no BEGIN, no COMMIT): one round trip for the batch.

        Counting cases up, storing records, events and idempotency keys is the
        statement ONE_STATEMENT; the database fills each event's case id and
        version in. It is atomic alone, as the transaction was.
        """
        outcomes: dict[int, Stored] = {}
        fresh = fresh_indexes(items, outcomes)
        person_keys = [items[i].person_key for i in fresh]
        counts = Counter(person_keys)
        persons = sorted(counts)  # concurrent batches lock the cases they share in one order
        now = datetime.now(UTC)
        nth, seen = [], Counter[str]()
        for key in person_keys:
            seen[key] += 1
            nth.append(seen[key])
        news = [items[i] for i in fresh]
        heads = [head_for(item) for item in news]
        keys = new_keys(items, outcomes, known=())  # a key stored before breaks its primary key: the careful way
        arrays: list[Any] = [
            [new_id() for _ in persons],
            persons,
            [counts[key] for key in persons],
            now,
            [item.record_id for item in news],
            person_keys,
            [item.reporting_street for item in news],
            [item.residence_street for item in news],
            [orjson.dumps(item.record).decode() for item in news],
            [item.received_at for item in news],
            [item.source_ref for item in news],
            [item.person_sealed for item in news],
            nth,
            [counts[key] for key in person_keys],
            [topic for topic, _ in heads],
            [head.decode() for _, head in heads],
            [key for _, key, _, _ in keys],
            [fingerprint for _, _, fingerprint, _ in keys],
            [record_id for _, _, _, record_id in keys],
            [kind for kind, _, _, _ in keys],
        ]
        async with self._single_statements.driver() as driver:  # one statement: atomic alone
            with as_sqlalchemy_errors("INSERT"):  # a duplicate: written the careful way
                rows = await driver.fetch(ONE_STATEMENT, *arrays)
        totals = {key: (case_id, versions) for key, case_id, versions in rows}
        for index, (case_id, version) in zip(fresh, in_turn(person_keys, counts, totals), strict=True):
            outcomes[index] = Stored("accepted", items[index].record_id, case_id, version)
        return [resolve(outcomes, index, outcomes[index]) for index in range(len(items))]

    async def add_events(self, events: Sequence[tuple[str, str, dict[str, Any]]], *, outage_s: float = 0.0) -> None:
        """Outbox rows (topic, key, envelope) that belong to no stored record: a bulk chunk's rejections.

        Tried again as a batch is (`attempts`), so a connection dropped under the insert does not cut a
        streamed import off after its 200. Should the insert have committed before the drop, the events go
        out twice, under the same event ids: a consumer counts a repeat once."""
        now = datetime.now(UTC)
        rows = [{"topic": t, "key": k, "envelope": e, "created_at": now} for t, k, e in events]
        async for attempt in attempts(len(rows), outage_s=outage_s):
            with attempt:
                async with self._sessions.begin() as session:
                    await session.execute(insert(OutboxRow), rows)

    async def get(self, record_id: str) -> RecordRow | None:
        async with self._reads() as session:
            return await session.get(RecordRow, record_id)

    async def versions(self, row: RecordRow) -> list[RecordRow]:
        """Every record of the row's case, oldest version first."""
        if row.case_id is None:
            return [row]
        query = select(RecordRow).where(col(RecordRow.case_id) == row.case_id).order_by(col(RecordRow.case_version))
        async with self._reads() as session:
            return list((await session.execute(query)).scalars())

    async def of_person(self, person_key: str) -> list[RecordRow]:
        query = select(RecordRow).where(col(RecordRow.person_key) == person_key).order_by(col(RecordRow.received_at))
        async with self._reads() as session:
            return list((await session.execute(query)).scalars())

    async def listing(
        self, *, street_prefix: str, limit: int, offset: int, also: Collection[str] = ()
    ) -> list[RecordRow]:
        """Records whose reporting street starts with `street_prefix` ('' = all) or is one of `also`, newest first."""
        streets = col(RecordRow.reporting_street)
        within = streets.startswith(street_prefix)
        query = (
            select(RecordRow)
            .where(or_(within, streets.in_(also)) if also else within)
            .order_by(col(RecordRow.received_at).desc(), col(RecordRow.record_id))
            .limit(limit)
            .offset(offset)
        )
        async with self._reads() as session:
            return list((await session.execute(query)).scalars())

    async def set_routes(self, routes: Sequence[tuple[str, str]]) -> None:
        """(record id, route) pairs in one transaction, applied in order (a record routed again: the last wins).

        Idempotent: setting the same route twice changes nothing. On PostgreSQL the batch is one UPDATE
        (one row per record, the last route of each), planned for this batch and the table as it is:
        a generic plan made while `records` was young would scan it whole for every batch after
        (docs/performance.md, rounds 18 and 20); planning costs about a row's update, once a batch.
        """
        if not routes:
            return
        if self._single_statements.postgres:
            last = dict(routes)
            rows = [{"record_id": record_id, "route": route} for record_id, route in last.items()]
            async with self._sessions.begin() as session:  # SQLAlchemy's transaction: it ends it whatever happens
                await session.execute(PLANNED_IN_THIS_TRANSACTION)
                raw = await bulk.driver(session)
                assert raw is not None, "PostgreSQL"
                await bulk.insert_together(raw, [bulk.Rows(RecordRow, rows, update_by="record_id")])
            return
        table = core_table(RecordRow)
        statement = (
            update(table).where(table.c.record_id == bindparam("b_record_id")).values(route=bindparam("b_route"))
        )
        async with self._single_statements.connect() as connection:  # one statement: atomic alone
            await connection.execute(statement, [{"b_record_id": r, "b_route": route} for r, route in routes])
