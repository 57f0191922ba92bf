"""Which items of a batch were submitted before, or repeat an item before them, and which
Idempotency-Keys the batch stores."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.intake.adapters.batch_items import NewRecord, Stored
from services.intake.adapters.tables import IdempotencyRow, RecordRow
from shared.db.among import among


def fresh_indexes(items: Sequence[NewRecord], outcomes: dict[int, Stored]) -> list[int]:
    """Indexes of the items to store: not in `outcomes` (stored earlier), not repeating an item before them.

    A repeat within the batch (same source ref or idempotency key) goes into `outcomes` as a duplicate."""
    first_of: dict[tuple[str, str], int] = {}  # (source ref, or key kind, its text) -> its first item's index
    fresh: list[int] = []
    for index, item in enumerate(items):
        if index in outcomes:
            continue
        marks = [m for m in (_ref_of(item), _key_of(item)) if m]
        earlier = next((first_of[m] for m in marks if m in first_of), None)
        if earlier is None:
            fresh.append(index)
            first_of.update(dict.fromkeys(marks, index))
        else:
            outcomes[index] = Stored("duplicate", items[earlier].record_id, None, 0)
    return fresh


def _ref_of(item: NewRecord) -> tuple[str, str] | None:
    return ("source_ref", item.source_ref) if item.source_ref else None


def _key_of(item: NewRecord) -> tuple[str, str] | None:
    """The item's Idempotency-Key as the store tells keys apart: its kind and its text."""
    return (item.key_kind, item.idempotency_key) if item.idempotency_key else None


def new_keys(
    items: Sequence[NewRecord], outcomes: dict[int, Stored], known: Collection[tuple[str, str]]
) -> list[tuple[str, str, str, str]]:
    """(kind, key, fingerprint, record id) to store for each Idempotency-Key of the batch not `known`
    (stored before).

    Every keyed item's first answer is kept: the record it stores (not in `outcomes`), or the record it
    duplicates, stored before (by its source ref) or earlier in the batch: a key forgotten after a
    duplicate would let another body through as a new record. A key twice in the batch is kept once,
    with its first item's answer.

    Sorted by the table's primary key (the key's text, then its kind; by code point, as ONE_STATEMENT's
    `COLLATE "C"`): each insert holds its key's entry in the unique index until the transaction ends, so two
    batches that share keys in opposite orders (a client's retries, each in another process's group commit)
    would each hold one and wait for the other's. In one order, the later batch waits, then finds them."""
    keys: list[tuple[str, str, str, str]] = []
    claimed = set(known)
    for index, item in enumerate(items):
        marked = _key_of(item)
        if marked and marked not in claimed:
            claimed.add(marked)
            answer = outcomes.get(index)
            record_id = answer.record_id if answer else item.record_id
            keys.append((*marked, item.fingerprint or "", record_id))
    keys.sort(key=lambda k: (k[1], k[0]))
    return keys


def resolve(outcomes: dict[int, Stored], index: int, outcome: Stored) -> Stored:
    if outcome.status == "duplicate" and outcome.case_id is None:
        accepted = (o for o in outcomes.values() if o.status == "accepted")
        first = next((o for o in accepted if o.record_id == outcome.record_id), None)
        if first is not None:
            return Stored("duplicate", first.record_id, first.case_id, first.case_version)
    return outcome


async def earlier_submissions(
    session: AsyncSession, items: Sequence[NewRecord]
) -> tuple[dict[int, Stored], set[tuple[str, str]]]:
    """Items already stored by an earlier request: duplicates, or conflicts (same key, other body); and the
    batch's idempotency keys stored before, as (kind, key)."""
    refs = {item.source_ref for item in items if item.source_ref}
    idem = {marked for item in items if (marked := _key_of(item))}
    # an item's own record id, found stored: this very submission, committed by an attempt whose answer was lost
    # (the connection dropped after the server's COMMIT); it was accepted, and is not stored again
    dialect = session.get_bind().dialect.name
    record_ids = among(col(RecordRow.record_id), "ids", dialect)  # one array on PostgreSQL, whatever the count
    ids = [item.record_id for item in items]
    own = (await session.execute(select(RecordRow).where(record_ids), {"ids": ids})).scalars()
    by_id = {row.record_id: row for row in own}
    by_ref: dict[str, RecordRow] = {}
    if refs:
        of_refs = among(col(RecordRow.source_ref), "refs", dialect)
        rows = (await session.execute(select(RecordRow).where(of_refs), {"refs": list(refs)})).scalars()
        by_ref = {row.source_ref: row for row in rows if row.source_ref}
    by_key: dict[tuple[str, str], tuple[IdempotencyRow, RecordRow | None]] = {}
    if idem:
        # by text, the first column of the primary key (key, kind); a row of another kind answers nothing here
        texts = list({key for _, key in idem})
        of_texts = among(col(IdempotencyRow.key), "texts", dialect)
        found = (await session.execute(select(IdempotencyRow).where(of_texts), {"texts": texts})).scalars()
        keyed = [k for k in found if (k.kind, k.key) in idem]
        ids = [k.record_id for k in keyed]
        stored = (await session.execute(select(RecordRow).where(record_ids), {"ids": ids})).scalars()
        rows_by_id = {row.record_id: row for row in stored}
        by_key = {(k.kind, k.key): (k, rows_by_id.get(k.record_id)) for k in keyed}
    outcomes: dict[int, Stored] = {}
    for index, item in enumerate(items):
        if item.record_id in by_id:
            mine = by_id[item.record_id]
            outcomes[index] = Stored("accepted", mine.record_id, mine.case_id, mine.case_version)
        elif (marked := _key_of(item)) in by_key:
            key_row, row = by_key[marked]
            status: Literal["duplicate", "conflict"] = (
                "duplicate" if key_row.fingerprint == (item.fingerprint or "") else "conflict"
            )
            outcomes[index] = _stored(status, key_row.record_id, row)
        elif item.source_ref in by_ref:
            row = by_ref[item.source_ref]
            outcomes[index] = _stored("duplicate", row.record_id, row)
    return outcomes, set(by_key)


def _stored(status: Literal["duplicate", "conflict"], record_id: str, row: RecordRow | None) -> Stored:
    return Stored(status, record_id, row.case_id if row else None, row.case_version if row else 1)
