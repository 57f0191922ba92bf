"""Intake's bulk hot path reaches the asyncpg connection through shared.db.engine.driver_of, the one place that
knows how SQLAlchemy holds it (its adapter has changed that before), and the driver's failures stay SQLAlchemy's.

row_inserts.py reached it its own way, twice (`get_raw_connection().driver_connection`), beside the copy
shared/db/engine.py now keeps for the leader's watch and the outbox relay's LISTEN.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.adapters import row_inserts
from services.intake.adapters.record_statements import EVENT_COLUMNS, RECORD_COLUMNS, RECORDS_AND_EVENTS
from services.intake.adapters.row_inserts import COPY_FROM, insert_records_and_events, insert_rows
from services.intake.adapters.tables import IdempotencyRow

NOW = datetime(2027, 2, 24, 2, 30, tzinfo=UTC)


class FakeDriver:
    """asyncpg's connection as the bulk path uses it: a COPY and one statement, each failing with `error`."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.sent: list[tuple[Any, ...]] = []

    async def copy_records_to_table(self, table: str, *, records: list[tuple[Any, ...]], columns: list[str]) -> None:
        self.sent.append(("COPY", table, columns, len(records)))
        if self.error is not None:
            raise self.error

    async def execute(self, statement: str, *arrays: list[Any]) -> None:
        self.sent.append(("INSERT", statement, len(arrays)))
        if self.error is not None:
            raise self.error


class FakeSession:
    """A session on PostgreSQL whose connection is `connection`."""

    def __init__(self) -> None:
        self.connection_ = object()

    def get_bind(self) -> Any:
        return SimpleNamespace(dialect=SimpleNamespace(name="postgresql"))

    async def connection(self) -> object:
        return self.connection_


@pytest.fixture
def through_driver_of(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeSession, FakeDriver]:
    session, driver = FakeSession(), FakeDriver()

    async def driver_of(connection: object) -> FakeDriver:
        assert connection is session.connection_  # the session's own connection, its transaction
        return driver

    monkeypatch.setattr(row_inserts, "driver_of", driver_of)
    return session, driver


def _keys(count: int) -> list[dict[str, Any]]:
    return [
        {"key": f"k{n}", "kind": "bulk", "fingerprint": "f" * 64, "record_id": f"r{n}", "created_at": NOW}
        for n in range(count)
    ]


async def test_a_bulk_batch_is_copied_and_records_with_events_inserted_on_the_driver_of_the_session(
    through_driver_of: tuple[FakeSession, FakeDriver],
) -> None:
    session, driver = through_driver_of
    await insert_rows(cast(AsyncSession, session), IdempotencyRow, _keys(COPY_FROM))
    records = [{column: {} if column == "record" else "x" for column in RECORD_COLUMNS}]
    events = [{column: {} if column == "envelope" else "x" for column in EVENT_COLUMNS}]
    await insert_records_and_events(cast(AsyncSession, session), records, events)
    assert driver.sent == [
        ("COPY", "idempotency_keys", ["key", "kind", "fingerprint", "record_id", "created_at"], COPY_FROM),
        ("INSERT", RECORDS_AND_EVENTS, len(RECORD_COLUMNS) + len(EVENT_COLUMNS)),
    ]


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (asyncpg.UniqueViolationError("duplicate key"), IntegrityError),
        (asyncpg.QueryCanceledError("cancelled"), DBAPIError),
    ],
)
async def test_the_drivers_failures_are_raised_as_sqlalchemys(
    through_driver_of: tuple[FakeSession, FakeDriver], error: Exception, raised: type[Exception]
) -> None:
    """A unique violation is an IntegrityError (the batch is retried), anything else a DBAPIError (503)."""
    session, driver = through_driver_of
    driver.error = error
    with pytest.raises(raised):
        await insert_rows(cast(AsyncSession, session), IdempotencyRow, _keys(COPY_FROM))
    with pytest.raises(raised):
        await insert_records_and_events(cast(AsyncSession, session), [], [])
