"""Two bulk imports at once on PostgreSQL whose rows share external ids in opposite orders.

A batch is one transaction, and a row's source ref (street, source kind, external id) is unique: a batch
that inserts a ref another open batch holds waits for that batch. Inserted in file order, the second
import held one shared ref and waited for the other, which the first import held while it waited for the
first: a deadlock, and the import PostgreSQL ended was cut off after its 200. Inserted in the order of
their refs, whichever batch comes second waits for the other, then finds its rows stored: duplicates.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.adapters.bulk_formats import Row
from services.intake.adapters.repository import COPY_FROM, RecordRepository
from services.intake.adapters.tables import RecordRow
from services.intake.bootstrap import MIGRATIONS
from services.intake.service_layer.bulk_import import BulkImport
from services.intake.service_layer.submissions import Submissions
from shared.auth import Principal, parse_scope
from shared.db import session_factory
from shared.directory import load_directory
from shared.identity import person_key
from shared.ids import new_id
from tests.support.infra import TEST_KEYRING, TEST_ZONE
from tests.support.records import id_number, record
from tests.support.stores import migrated_store

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


async def sessions_waiting_for_a_lock(engine: AsyncEngine, count: int) -> None:
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(20):
        while True:
            async with engine.connect() as connection:
                if await connection.scalar(waiting) >= count:
                    return
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("size", [3, COPY_FROM + 3], ids=["one-statement", "copied"])
async def test_two_imports_sharing_external_ids_in_opposite_orders_both_finish(engine: AsyncEngine, size: int) -> None:
    submissions = Submissions(
        RecordRepository(session_factory(engine)), load_directory(), TEST_KEYRING, SECRET, zone=TEST_ZONE
    )
    first = file_of(["ext-a", "ext-b"], first_person=1, size=size)
    second = file_of(["ext-b", "ext-c", "ext-a"], first_person=500, size=size)
    ref_of_c = f"{second[1].record['reporting_street']}:unknown:ext-c"
    # another writer's open transaction holds ext-c's ref: each import is held at a step of its own
    async with engine.connect() as holder:
        await holder.execute(insert(RecordRow).values(held_row(ref_of_c)))
        later = asyncio.ensure_future(imported(submissions, "second", second))
        await sessions_waiting_for_a_lock(engine, 1)  # the second import waits at ext-c
        earlier = asyncio.ensure_future(imported(submissions, "first", first))
        await sessions_waiting_for_a_lock(engine, 2)  # the first waits at a ref the second holds
        await holder.rollback()  # the second goes on to its last ref
    first_results, second_results = await asyncio.gather(earlier, later)

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
