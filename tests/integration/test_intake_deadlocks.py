"""Intake's batches and PostgreSQL's deadlocks.

Two bulk imports at once whose rows share external ids in opposite orders. A batch is one transaction, and
a row's source ref (street, source kind, external id) is unique: a batch that inserts a ref another open
batch holds waits for that batch. Inserted in file order, the second import held one shared ref and
waited for the other, which the first import held while it waited for the first: a deadlock, and the
import PostgreSQL ended was cut off after its 200. Inserted in the order of their refs, whichever batch
comes second waits for the other, then finds its rows stored: duplicates. A batch that the database ends
all the same (a writer that takes its locks otherwise) is written again, a few times at most. Idempotency-Keys
are inserted in the order of their text, for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.intake.adapters import batch_retries
from services.intake.adapters.batch_retries import ATTEMPTS
from services.intake.adapters.bulk_formats import Row
from services.intake.adapters.repository import RecordRepository
from services.intake.adapters.row_inserts import COPY_FROM
from services.intake.adapters.tables import IdempotencyRow, KeyKind, RecordRow
from services.intake.bootstrap import MIGRATIONS
from services.intake.service_layer.bulk_import import BulkImport
from services.intake.service_layer.submissions import Prepared, Submissions
from shared.auth import Principal, parse_scope
from shared.db import session_factory
from shared.directory import load_directory
from shared.identity import person_key
from shared.ids import new_id
from tests.support.infra import TEST_KEYRING, TEST_ZONE
from tests.support.logs import logged_by
from tests.support.records import id_number, record
from tests.support.stores import backends_waiting_for_a_lock, migrated_store

ADMIN = Principal("k1", parse_scope("admin"))
SECRET = b"person-secret"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with migrated_store("postgresql", "intake_", MIGRATIONS, tmp_path) as engine:
        yield engine


def file_of(external_ids: list[str], first_person: int, size: int) -> list[Row]:
    """Rows with these external ids, then rows without one up to `size`.

    Persons of their own from `first_person` on: a person in both files would make the batches wait at
    the person's case, before either inserted a record. They come in the order of their person keys, so
    that a batch of a few rows, which goes in as one statement whose plan inserts its records by person
    key, inserts them in file order too, as a copied batch did."""
    persons = sorted(range(first_person, first_person + size), key=lambda n: person_key(id_number(sequence=n), SECRET))
    bodies = [record(sequence=n) for n in persons]
    for body, external_id in zip(bodies, external_ids, strict=False):
        body["external_id"] = external_id
    return [Row(number, body) for number, body in enumerate(bodies, 2)]  # line 1 is the CSV's header


async def imported(submissions: Submissions, key: str, rows: list[Row]) -> list[dict[str, Any]]:
    """The import's results, its file written in one batch."""
    run = BulkImport(submissions, ADMIN, key, {}, batch=len(rows))
    return [result async for results in run.results(iter(rows)) for result in results]


@pytest.mark.parametrize("size", [3, COPY_FROM + 3], ids=["one-statement", "copied"])
async def test_two_imports_sharing_external_ids_in_opposite_orders_both_finish(
    engine: AsyncEngine, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    submissions = submissions_on(RecordRepository(session_factory(engine)))
    first = file_of(["ext-a", "ext-b"], first_person=1, size=size)
    second = file_of(["ext-b", "ext-c", "ext-a"], first_person=500, size=size)
    ref_of_c = f"{second[1].record['reporting_street']}:unknown:ext-c"
    with logged_by(monkeypatch, batch_retries) as logs:
        # another writer's open transaction holds ext-c's ref: each import is held at a step of its own
        async with engine.connect() as holder:
            await holder.execute(insert(RecordRow).values(held_row(ref_of_c)))
            later = asyncio.ensure_future(imported(submissions, "second", second))
            await backends_waiting_for_a_lock(engine, 1)  # the second import waits at ext-c
            earlier = asyncio.ensure_future(imported(submissions, "first", first))
            await backends_waiting_for_a_lock(engine, 2)  # the first waits at a ref the second holds
            await holder.rollback()  # the second goes on to its last ref
        first_results, second_results = await asyncio.gather(earlier, later)

    assert logs == [], "no batch was ended by a deadlock and written again"
    assert [r["status"] for r in second_results] == ["accepted"] * size
    shared = {r["row"]: r["record_id"] for r in second_results}
    assert [(r["status"], r["record_id"]) for r in first_results[:2]] == [
        ("duplicate", shared[4]),  # ext-a: the second file's line 4
        ("duplicate", shared[2]),  # ext-b: its line 2
    ]
    assert [r["status"] for r in first_results[2:]] == ["accepted"] * (size - 2)
    async with engine.connect() as connection:
        stored = await connection.scalar(text("SELECT count(*) FROM records"))
        events = await connection.scalar(text("SELECT count(*) FROM outbox WHERE topic = 'records.submitted'"))
    assert stored == events == 2 * size - 2


def keyed(submissions: Submissions, keys: list[str], first_person: int, size: int) -> list[Prepared]:
    """A batch of `size` records under these Idempotency-Keys, then keys of their own; persons of their own
    from `first_person` on, and no external id: the batches share nothing but the keys."""
    texts = keys + [f"own-{first_person}-{n:03d}" for n in range(size - len(keys))]
    batch = [
        submissions.prepare(record(sequence=first_person + n), ADMIN, idempotency_key=k) for n, k in enumerate(texts)
    ]
    assert all(isinstance(p, Prepared) for p in batch)
    return [p for p in batch if isinstance(p, Prepared)]


@pytest.mark.parametrize("size", [3, COPY_FROM + 3], ids=["one-statement", "copied"])
async def test_two_batches_sharing_idempotency_keys_in_opposite_orders_both_finish(
    engine: AsyncEngine, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two group commits of two processes, each holding a retry of the other's request under the same key
    with another body. Inserted in batch order, each held a key the other needed next: a deadlock."""
    submissions = submissions_on(RecordRepository(session_factory(engine)))
    first = keyed(submissions, ["a", "b"], first_person=1, size=size)
    second = keyed(submissions, ["b", "c", "a"], first_person=500, size=size)
    with logged_by(monkeypatch, batch_retries) as logs:
        # another writer's open transaction holds key c: each batch is held at a step of its own
        async with engine.connect() as holder:
            await holder.execute(insert(IdempotencyRow).values(held_key(f"{ADMIN.key_id}:c")))
            later = asyncio.ensure_future(submissions.store(second))
            await backends_waiting_for_a_lock(engine, 1)  # the second batch waits at key c
            earlier = asyncio.ensure_future(submissions.store(first))
            await backends_waiting_for_a_lock(engine, 2)  # the first waits at a key the second holds
            await holder.rollback()  # the second goes on to its last key
        first_outcomes, second_outcomes = await asyncio.gather(earlier, later)

    assert logs == [], "no batch was ended by a deadlock and written again"
    assert [o.status for o in second_outcomes] == ["accepted"] * size
    # the first batch's a and b were the second's: another body under the same key, refused
    assert [o.status for o in first_outcomes] == ["conflict", "conflict"] + ["accepted"] * (size - 2)
    assert [o.record_id for o in first_outcomes[:2]] == [second_outcomes[2].record_id, second_outcomes[0].record_id]
    async with engine.connect() as connection:
        stored = await connection.scalar(text("SELECT count(*) FROM records"))
        keys = await connection.scalar(text("SELECT count(*) FROM idempotency_keys"))
    assert stored == keys == 2 * size - 2


async def test_a_one_statement_batch_and_a_copied_batch_sharing_a_key_and_a_ref_both_finish(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two ways a batch is written lock in one order across tables too: records, then keys. The one
    statement's inserts are parts of a WITH, which PostgreSQL ran keys first: it held key a and waited for
    the copied batch's record of ext-shared, which waited for key a."""
    submissions = submissions_on(RecordRepository(session_factory(engine)))

    def with_ref(sequence: int) -> Prepared:
        body = record(sequence=sequence)
        body["external_id"] = "ext-shared"
        prepared = submissions.prepare(body, ADMIN)
        assert isinstance(prepared, Prepared)
        return prepared

    one_statement = [*keyed(submissions, ["a", "b"], first_person=1, size=2), with_ref(3)]
    copied = [*keyed(submissions, ["a"], first_person=500, size=COPY_FROM + 3), with_ref(700)]
    with logged_by(monkeypatch, batch_retries) as logs:
        async with engine.connect() as holder:
            await holder.execute(insert(IdempotencyRow).values(held_key(f"{ADMIN.key_id}:b")))
            small = asyncio.ensure_future(submissions.store(one_statement))
            await backends_waiting_for_a_lock(engine, 1)  # the one statement waits at key b
            large = asyncio.ensure_future(submissions.store(copied))
            await backends_waiting_for_a_lock(engine, 2)  # the copied batch waits at what the other holds
            await holder.rollback()  # the one statement goes on
        small_outcomes, large_outcomes = await asyncio.gather(small, large)

    assert logs == [], "no batch was ended by a deadlock and written again"
    assert [o.status for o in small_outcomes] == ["accepted"] * 3
    assert [o.status for o in large_outcomes] == ["conflict"] + ["accepted"] * (COPY_FROM + 2) + ["duplicate"]
    async with engine.connect() as connection:
        refs = text("SELECT count(*) FROM records WHERE source_ref LIKE :ref")
        shared = await connection.scalar(refs, {"ref": "%:ext-shared"})
    assert shared == 1


@pytest.mark.parametrize("ended", [1, ATTEMPTS], ids=["once", "every-try"])
async def test_a_batch_the_database_ends_for_a_deadlock_is_written_again_a_few_times_at_most(
    engine: AsyncEngine, ended: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = session_factory(engine)
    begin = sessions.begin
    tries = 0

    @contextlib.asynccontextmanager
    async def ended_by_a_deadlock() -> AsyncIterator[AsyncSession]:
        nonlocal tries
        tries += 1
        async with begin() as session:
            yield session
            if tries <= ended:  # every row written, PostgreSQL ends the transaction before its commit
                raise DBAPIError("COPY", None, asyncpg.DeadlockDetectedError("deadlock detected"))

    monkeypatch.setattr(sessions, "begin", ended_by_a_deadlock)
    submissions = submissions_on(RecordRepository(sessions))
    size = COPY_FROM + 1  # copied: written in a transaction from the first try
    rows = file_of(["ext-a"], first_person=1, size=size)
    with logged_by(monkeypatch, batch_retries) as logs:
        if ended < ATTEMPTS:
            results = await imported(submissions, "file", rows)
            assert [r["status"] for r in results] == ["accepted"] * size
        else:
            with pytest.raises(DBAPIError, match="deadlock detected"):
                await imported(submissions, "file", rows)

    assert tries == (ended + 1 if ended < ATTEMPTS else ATTEMPTS)
    # the state and counts only: never a name, an identity number or an external id
    assert logs == [
        {
            "event": "batch ended by the database, written again",
            "sqlstate": "40P01",
            "attempt": attempt,
            "rows": size,
            "log_level": "warning",
        }
        for attempt in range(1, min(ended, ATTEMPTS - 1) + 1)
    ]
    async with engine.connect() as connection:
        stored = await connection.scalar(text("SELECT count(*) FROM records"))
        events = await connection.scalar(text("SELECT count(*) FROM outbox"))
        versions = await connection.scalar(text("SELECT coalesce(sum(versions), 0) FROM person_cases"))
    kept = size if ended < ATTEMPTS else 0
    assert (stored, events, versions) == (kept, kept, kept), "each ended try left nothing behind"


def submissions_on(repository: RecordRepository) -> Submissions:
    return Submissions(repository, load_directory(), TEST_KEYRING, SECRET, zone=TEST_ZONE)


def held_key(key: str) -> dict[str, Any]:
    """Another writer's Idempotency-Key, of a single POST; nothing else of it matters here."""
    return {
        "key": key,
        "kind": KeyKind.REQUEST,
        "fingerprint": "0" * 64,
        "record_id": new_id(),
        "created_at": datetime.now(UTC),
    }


def held_row(source_ref: str) -> dict[str, Any]:
    """A record of another writer's, under `source_ref`; nothing else of it matters here."""
    return {
        "record_id": new_id(),
        "person_key": "another-writer",
        "reporting_street": "440111005",
        "residence_street": "440111005",
        "record": {},
        "received_at": datetime.now(UTC),
        "case_version": 1,
        "source_ref": source_ref,
    }
