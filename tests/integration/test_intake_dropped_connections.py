"""Intake's batches when PostgreSQL drops their connections: written again on a new one, not answered 503.

A restart of PostgreSQL (here pg_terminate_backend) closes every connection. Those idle in the pool are
replaced as they are checked out (`shared.db.engine._replace_closed`); one dropped with a batch's statement
in flight fails that statement, and the batch is written again at once on a new connection. Whether the
statement had committed is unknown to the client; the next try looks for the batch's own record ids first
(tests/integration/test_intake_store.py holds that part). Before, each dropped connection cost a POST a 503.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.adapters import batch_retries
from services.intake.adapters.repository import RecordRepository
from services.intake.adapters.row_inserts import COPY_FROM
from services.intake.adapters.tables import PersonCaseRow
from services.intake.bootstrap import MIGRATIONS
from services.intake.service_layer.submissions import Prepared, Submissions
from shared.auth import Principal, parse_scope
from shared.db import session_factory
from shared.db.engine import SingleStatements
from shared.directory import load_directory
from shared.ids import new_id
from tests.support.infra import TEST_KEYRING, TEST_ZONE, pg_admin_url
from tests.support.logs import logged_by
from tests.support.records import record
from tests.support.stores import backends_waiting_for_a_lock, migrated_store

ADMIN = Principal("k1", parse_scope("admin"))
SECRET = b"person-secret"
DROPPED = {"ConnectionDoesNotExistError", "AdminShutdownError", "InterfaceError", "InternalClientError"}


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with migrated_store("postgresql", "intake_", MIGRATIONS, tmp_path) as engine:
        yield engine


async def admin_connection() -> asyncpg.Connection:
    return await asyncpg.connect(make_url(pg_admin_url()).set(drivername="postgresql").render_as_string(False))


@pytest.mark.parametrize("size", [1, COPY_FROM + 1], ids=["one-statement", "copied"])
async def test_a_batch_whose_connection_is_dropped_under_it_is_written_again_on_a_new_one(
    engine: AsyncEngine, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    submissions = Submissions(
        RecordRepository(session_factory(engine)), load_directory(), TEST_KEYRING, SECRET, zone=TEST_ZONE
    )
    batch = [submissions.prepare(record(sequence=n), ADMIN) for n in range(1, size + 1)]
    prepared = [p for p in batch if isinstance(p, Prepared)]
    assert len(prepared) == size
    admin = await admin_connection()
    try:
        with logged_by(monkeypatch, batch_retries) as logs:
            # another writer's open transaction holds the first person's case: the batch's statement waits there
            async with engine.connect() as holder:
                held = {"case_id": new_id(), "person_key": prepared[0].new.person_key, "created_at": datetime.now(UTC)}
                await holder.execute(insert(PersonCaseRow).values(held))
                stored = asyncio.ensure_future(submissions.store(prepared))
                [waiting] = await backends_waiting_for_a_lock(engine)
                await admin.execute("SELECT pg_terminate_backend($1)", waiting)
                await holder.rollback()
            outcomes = await stored
    finally:
        await admin.close()

    assert [(o.status, o.case_version) for o in outcomes] == [("accepted", 1)] * size
    assert [(entry["event"], entry["attempt"], entry["rows"]) for entry in logs] == [
        ("batch's connection dropped, written again on a new one", 1, size)
    ]
    assert logs[0]["error"] in DROPPED  # the driver's class only: a message may quote the statement
    async with engine.connect() as connection:
        records = await connection.scalar(text("SELECT count(*) FROM records"))
        events = await connection.scalar(text("SELECT count(*) FROM outbox"))
        versions = await connection.scalar(text("SELECT sum(versions) FROM person_cases"))
    assert (records, events, versions) == (size, size, size), "written once"


async def test_rejections_whose_connection_is_dropped_under_them_are_written_again_on_a_new_one(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bulk chunk's rejections (outbox rows of no record): a drop there cut a streamed import off after its
    200. Written again, the rows carry the same envelopes, so the same event ids."""
    repository = RecordRepository(session_factory(engine))
    events = [("records.rejected", f"440111005:{n}", {"event_id": f"e-{n}", "payload": {}}) for n in range(3)]
    admin = await admin_connection()
    try:
        with logged_by(monkeypatch, batch_retries) as logs:
            async with engine.connect() as holder:  # another writer's lock on the table: the insert waits
                await holder.execute(text("LOCK TABLE outbox IN SHARE MODE"))
                added = asyncio.ensure_future(repository.add_events(events))
                [waiting] = await backends_waiting_for_a_lock(engine)
                await admin.execute("SELECT pg_terminate_backend($1)", waiting)
                await holder.rollback()
            await added
    finally:
        await admin.close()
    assert [(entry["event"], entry["attempt"], entry["rows"]) for entry in logs] == [
        ("batch's connection dropped, written again on a new one", 1, 3)
    ]
    async with engine.connect() as connection:
        stored = (await connection.execute(text("SELECT envelope FROM outbox ORDER BY id"))).scalars().all()
    assert [envelope["event_id"] for envelope in stored] == ["e-0", "e-1", "e-2"]


class OneArgumentShort:
    """The driver, with the one statement sent one argument short: a mistake in the code, not in the store."""

    def __init__(self, driver: asyncpg.Connection) -> None:
        self._driver = driver

    async def fetch(self, statement: str, *arguments: object) -> object:
        return await self._driver.fetch(statement, *arguments[:-1])


async def test_a_statement_sent_with_the_wrong_arguments_is_no_dropped_connection(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncpg raises the InterfaceError of a closed connection also for a statement given one argument too few,
    before anything is sent. Taken for a drop, the batch was written again the careful way and answered: a
    broken statement would have passed every test, each batch costing twice."""
    submissions = Submissions(
        RecordRepository(session_factory(engine)), load_directory(), TEST_KEYRING, SECRET, zone=TEST_ZONE
    )
    batch = [submissions.prepare(record(sequence=n), ADMIN) for n in (1, 2)]
    prepared = [p for p in batch if isinstance(p, Prepared)]
    driver = SingleStatements.driver

    @contextlib.asynccontextmanager
    async def one_short(self: SingleStatements) -> AsyncIterator[OneArgumentShort]:
        async with driver(self) as raw:
            yield OneArgumentShort(raw)

    monkeypatch.setattr(SingleStatements, "driver", one_short)
    with logged_by(monkeypatch, batch_retries) as logs, pytest.raises(DBAPIError, match="arguments"):
        await submissions.store(prepared)
    assert logs == []
