"""A batch written the careful way: earlier submissions looked for first, then cases, records, events and keys.

A batch (one record, or up to INTAKE_BULK_BATCH rows of a bulk import) is
written in one transaction: duplicates are recognised first (same source
and external id, or same Idempotency-Key), then each person is matched to
their case (by blind index) and gets the next version, then records, outbox
rows and idempotency keys are inserted together. Keys are kept per kind
(tables.KeyKind): a single POST's and a bulk row's never answer for each
other. A keyed item's key is
stored whatever its answer, a new record or a duplicate of one stored before
or earlier in the batch, so the key answers the same next time and refuses
another body. Cases are counted up with one upsert, so two writers of the
same person serialise on its row. Records are inserted in the order of their
source refs, and keys in the order of their text, so two writers of the same
sources or keys wait for each other rather than deadlock. A concurrent writer
that stored the same source (or key) first makes the transaction fail on a
unique constraint; the batch is then retried and sees its work. A writer that keeps committing the batch's
refs between its look and its insert (single POSTs of the same external ids, one after another, racing a
large batch) could make every try fail that way: from HELD_FROM_TRY on, the try holds the tables it writes
against every other writer before it looks, so nothing can come between (`hold_writers`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.intake.adapters.batch_items import EventFor, NewRecord, Stored
from services.intake.adapters.duplicates import earlier_submissions, fresh_indexes, new_keys, resolve
from services.intake.adapters.record_statements import COUNT_CASES
from services.intake.adapters.row_inserts import (
    COPY_FROM,
    as_sqlalchemy_errors,
    core_table,
    insert_records_and_events,
    insert_rows,
)
from services.intake.adapters.tables import IdempotencyRow, OutboxRow, PersonCaseRow, RecordRow
from shared.db import bulk
from shared.db.upsert import conflict_insert
from shared.ids import new_id

# the try of a batch from which it holds the tables (two failed before: one unique violation is the usual race)
HELD_FROM_TRY = 3
# Against every writer of records, cases and keys; not against readers (SHARE ROW EXCLUSIVE conflicts with the
# ROW EXCLUSIVE an INSERT, UPDATE or upsert takes, and with itself). One statement, the tables in the order
# every writer takes them (the case upsert first, then records, then keys), taken before anything else of the
# try: a held try waits for the writers under way and holds nothing meanwhile, so no cycle forms.
HOLD_WRITERS = text("LOCK TABLE person_cases, records, idempotency_keys IN SHARE ROW EXCLUSIVE MODE")


async def hold_writers(session: AsyncSession) -> None:
    """Keep every other writer of intake's records out until this transaction ends (PostgreSQL; SQLite's
    writers take turns already). For a try whose every look was overtaken: a batch that met concurrent
    writers of its refs or keys more than once; rare, and short, as the batch is written at once."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(HOLD_WRITERS)


async def write_carefully(session: AsyncSession, items: Sequence[NewRecord], event_for: EventFor) -> list[Stored]:
    outcomes, known = await earlier_submissions(session, items)
    fresh = fresh_indexes(items, outcomes)
    now = datetime.now(UTC)
    keys = [
        {"key": key, "kind": kind, "fingerprint": fingerprint, "record_id": record_id, "created_at": now}
        for kind, key, fingerprint, record_id in new_keys(items, outcomes, known)
    ]
    versions = await _next_versions(session, [items[i].person_key for i in fresh])
    records, events = [], []
    for index, (case_id, version) in zip(fresh, versions, strict=True):
        item = items[index]
        outcomes[index] = Stored("accepted", item.record_id, case_id, version)
        records.append(_record_values(item, case_id, version))
        topic, envelope = event_for(item, case_id, version)
        events.append({"topic": topic, "key": item.person_key, "envelope": envelope, "created_at": now})
    records.sort(key=_source_ref)  # in lock order; events stay in batch order
    if records and len(records) < COPY_FROM and session.get_bind().dialect.name == "postgresql":
        await insert_records_and_events(session, records, events)
    else:
        for table, values in ((RecordRow, records), (OutboxRow, events)):
            if values:
                await insert_rows(session, table, values)
    if keys:
        await insert_rows(session, IdempotencyRow, keys)
    return [resolve(outcomes, index, outcomes[index]) for index in range(len(items))]


def _source_ref(record: dict[str, Any]) -> str:
    """What records are inserted in order of: their source ref, by code point (as ONE_STATEMENT's `COLLATE "C"`).

    Each insert takes the ref's entry in its unique index until the transaction ends, and waits for an open
    batch that holds it. Two batches that insert shared refs in one order queue behind each other; in file
    order (the same two external ids in opposite orders) each held one and waited for the other's, a
    deadlock. Only the insert is sorted: versions, events (per-person order) and answers keep batch order.
    A record with no ref (NULL) takes no entry, and goes first."""
    return record["source_ref"] or ""


def _record_values(item: NewRecord, case_id: str, version: int) -> dict[str, Any]:
    return {
        "record_id": item.record_id,
        "person_key": item.person_key,
        "reporting_street": item.reporting_street,
        "residence_street": item.residence_street,
        "record": item.record,
        "received_at": item.received_at,
        "case_id": case_id,
        "case_version": version,
        "source_ref": item.source_ref,
        "person_sealed": item.person_sealed,
    }


async def _next_versions(session: AsyncSession, person_keys: list[str]) -> list[tuple[str, int]]:
    """(case id, version) for each person key in turn, creating cases for new persons.

    One upsert for the whole batch: each person's case count goes up by the
    number of their records in it, and the versions are handed out in order.
    Rows are upserted sorted by key, so concurrent batches lock in one order.
    """
    if not person_keys:
        return []
    counts = Counter(person_keys)
    now = datetime.now(UTC)
    persons = sorted(counts)
    rows: Sequence[Any]
    if raw := await bulk.driver(session):  # arrays, one statement: SQLAlchemy's executemany was 5 % of a bulk row
        with as_sqlalchemy_errors("INSERT"):
            rows = await raw.fetch(COUNT_CASES, [new_id() for _ in persons], persons, [counts[k] for k in persons], now)
    else:
        values = [{"case_id": new_id(), "person_key": k, "versions": counts[k], "created_at": now} for k in persons]
        upsert = conflict_insert(session.get_bind().dialect)(core_table(PersonCaseRow))
        upsert = upsert.on_conflict_do_update(
            index_elements=[col(PersonCaseRow.person_key)],
            set_={"versions": col(PersonCaseRow.versions) + upsert.excluded.versions},
        ).returning(col(PersonCaseRow.person_key), col(PersonCaseRow.case_id), col(PersonCaseRow.versions))
        rows = (await session.execute(upsert, values)).all()  # executemany: one compiled statement, cached
    return in_turn(person_keys, counts, {key: (case_id, versions) for key, case_id, versions in rows})


def in_turn(person_keys: list[str], counts: Counter[str], totals: dict[str, tuple[str, int]]) -> list[tuple[str, int]]:
    """(case id, version) for each person key in turn, from each case's count after the batch.

    A person with k records in the batch and n versions after it gets n-k+1 .. n, in batch order."""
    next_version = {key: totals[key][1] - counts[key] + 1 for key in counts}
    assigned = []
    for key in person_keys:
        assigned.append((totals[key][0], next_version[key]))
        next_version[key] += 1
    return assigned
