"""Intake's batches and writers that keep storing the same external ids while a batch is written.

A batch written the careful way looks for its earlier submissions, then inserts; a writer that commits one of
the batch's refs in between (a field app's single POST of a record the clerk's import holds too) makes the
insert fail on the ref's unique index, and the batch is tried again. Such writers arriving one after another
overtook every try: after five the import was cut off after its 200 (found by a bulk import of 300 rows beside
single POSTs of a third of them). From the third try on, the batch holds the tables against other writers
before it looks, so that try cannot be overtaken.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.intake.adapters import batch_writes
from services.intake.adapters.duplicates import earlier_submissions
from services.intake.adapters.repository import RecordRepository
from services.intake.adapters.row_inserts import COPY_FROM
from services.intake.adapters.tables import RecordRow
from services.intake.bootstrap import MIGRATIONS
from shared.db import session_factory
from tests.integration.test_intake_deadlocks import file_of, held_row, imported, submissions_on
from tests.support.stores import migrated_store

RACED_TRIES = 5  # as many tries as a batch has (batch_retries.ATTEMPTS): each one overtaken, unless held
STREET = "440111005"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with migrated_store("postgresql", "intake_", MIGRATIONS, tmp_path) as engine:
        yield engine


async def test_a_batch_overtaken_by_writers_of_its_external_ids_on_every_try_is_still_stored(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    external_ids = [f"ext-{n}" for n in range(RACED_TRIES)]
    rows = file_of(external_ids, first_person=1, size=COPY_FROM + 3)  # copied: the careful way from the first try
    racers: list[asyncio.Task[None]] = []

    async def overtaken(session: AsyncSession, items: Any) -> Any:
        """The batch's look, then another writer's record of the next of its external ids, committed before the
        batch inserts (unless the batch holds the tables: then the writer waits for it)."""
        found = await earlier_submissions(session, items)
        if len(racers) < RACED_TRIES:
            racers.append(asyncio.ensure_future(another_writer(engine, external_ids[len(racers)])))
            await asyncio.wait([racers[-1]], timeout=2)
        return found

    monkeypatch.setattr(batch_writes, "earlier_submissions", overtaken)
    results = await imported(submissions_on(RecordRepository(session_factory(engine))), "file", rows)
    await asyncio.gather(*racers)

    assert len(racers) == 3, "the third try held the tables: nothing came between its look and its insert"
    assert [r["status"] for r in results[:2]] == ["duplicate", "duplicate"], "stored by the writers before"
    assert [r["status"] for r in results[2:]] == ["accepted"] * (len(rows) - 2)
    async with engine.connect() as connection:
        stored = await connection.scalar(text("SELECT count(*) FROM records WHERE person_key <> 'another-writer'"))
        theirs = await connection.scalar(text("SELECT count(*) FROM records WHERE person_key = 'another-writer'"))
    assert (stored, theirs) == (len(rows) - 2, 2), "the third writer's record came after the batch's: refused"


async def another_writer(engine: AsyncEngine, external_id: str) -> None:
    """A record of another writer under this external id, committed at once; refused (as a concurrent writer's
    retry would find the batch's record) when the batch stored the id first."""
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(RecordRow).values(held_row(f"{STREET}:unknown:{external_id}")))
    except IntegrityError:
        pass
