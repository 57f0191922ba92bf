"""Intake's 0008 keeps the Idempotency-Keys stored before it answering, as single POSTs' and as bulk rows'."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.adapters.repository import RecordRepository
from services.intake.bootstrap import MIGRATIONS
from services.intake.service_layer.bulk_workers import prepare_rows
from services.intake.service_layer.submissions import Outcome, Prepared, Ready, Submissions, fingerprint
from shared.auth import Principal, parse_scope
from shared.db import build_engine, run_migrations, session_factory
from shared.directory import load_directory
from shared.ids import new_id
from tests.support.infra import TEST_KEYRING, TEST_ZONE, create_database, drop_database, unique_name
from tests.support.records import record
from tests.support.stores import STORES

ADMIN = Principal("k1", parse_scope("admin"))
ROW = record(sequence=60)  # row 3 of a file imported under "abc", stored as "k1:abc#3"
POST = record(sequence=61)  # a single POST under "plain"
OTHER = record(sequence=62)
BEFORE_0008 = text(
    "INSERT INTO idempotency_keys (key, fingerprint, record_id, created_at)"
    " VALUES (:key, :fingerprint, :record_id, :created_at)"
)


@pytest.fixture(params=STORES)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    name = unique_name("intake_")
    url = f"sqlite+aiosqlite:///{tmp_path}/intake.db" if request.param == "sqlite" else await create_database(name)
    engine = build_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
        if request.param == "postgresql":
            await drop_database(name)


async def keys_stored_before_0008(engine: AsyncEngine) -> dict[str, str]:
    """Keys as intake stored them before 0008, with the record each first answered: key text -> record id."""
    await run_migrations(engine, MIGRATIONS, revision="0007")
    first = {"k1:abc#3": (new_id(), ROW), "k1:plain": (new_id(), POST)}
    rows = [
        {"key": key, "fingerprint": fingerprint(body), "record_id": record_id, "created_at": datetime.now(UTC)}
        for key, (record_id, body) in first.items()
    ]
    async with engine.begin() as connection:
        await connection.execute(BEFORE_0008, rows)
    return {key: record_id for key, (record_id, _) in first.items()}


def submissions_on(engine: AsyncEngine) -> Submissions:
    return Submissions(
        RecordRepository(session_factory(engine)), load_directory(), TEST_KEYRING, b"person-secret", zone=TEST_ZONE
    )


async def post(submissions: Submissions, body: dict[str, object], key: str) -> Outcome:
    prepared = submissions.prepare(body, ADMIN, idempotency_key=key)
    assert isinstance(prepared, Prepared)
    (outcome,) = await submissions.store([prepared])
    return outcome


async def import_row(submissions: Submissions, number: int, body: dict[str, object], key: str) -> Outcome:
    ((_, ready),) = prepare_rows(submissions, [(number, body, None)], ADMIN, key)
    assert isinstance(ready, Ready)
    (outcome,) = await submissions.store_ready([ready])
    return outcome


async def test_0008_keeps_every_key_stored_before_answering(engine: AsyncEngine) -> None:
    first = await keys_stored_before_0008(engine)
    await run_migrations(engine, MIGRATIONS)
    submissions = submissions_on(engine)

    # the file sent again after the upgrade: its row is the same row
    again = await import_row(submissions, 3, ROW, "abc")
    assert (again.status, again.record_id) == ("duplicate", first["k1:abc#3"])
    assert (await import_row(submissions, 3, OTHER, "abc")).status == "conflict"
    # a POST sent again with the key it used
    again = await post(submissions, POST, "plain")
    assert (again.status, again.record_id) == ("duplicate", first["k1:plain"])
    assert (await post(submissions, OTHER, "plain")).status == "conflict"
    # "k1:abc#3" could have been a POST's key as well: nothing says it was not, so it answers as one too
    again = await post(submissions, ROW, "abc#3")
    assert (again.status, again.record_id) == ("duplicate", first["k1:abc#3"])

    # a key stored after the upgrade is of one kind only
    row = await import_row(submissions, 1, record(sequence=63), "new")
    posted = await post(submissions, record(sequence=64), "new#1")
    assert (row.status, posted.status) == ("accepted", "accepted")


async def test_0008_undone_keeps_one_answer_per_key(engine: AsyncEngine) -> None:
    first = await keys_stored_before_0008(engine)
    await run_migrations(engine, MIGRATIONS)
    posted = await post(submissions_on(engine), record(sequence=65), "new#1")
    await import_row(submissions_on(engine), 1, record(sequence=66), "new")  # the same text, a row's
    async with engine.begin() as connection:
        await connection.run_sync(downgrade_to, "0007")
        stored = (await connection.execute(text("SELECT key, record_id FROM idempotency_keys"))).all()
    keys: dict[str, str] = dict(stored)
    assert keys == first | {"k1:new#1": posted.record_id}, "a text of both kinds keeps the single POST's answer"


def downgrade_to(connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = "alembic_version"
    command.downgrade(config, revision)
