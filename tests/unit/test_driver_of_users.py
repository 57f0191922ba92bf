"""The batch writers reach the asyncpg connection through shared.db.engine.driver_of, the one place that knows how
SQLAlchemy holds it (its adapter has changed that before): shared/db/bulk.py (routing's, notification's and
intake's batches) and reporting's COPY fold (adapters/pg_fold.py) each unwrapped it their own way
(`get_raw_connection().driver_connection`). The same connection, the same transaction, the same statements.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.reporting.adapters import pg_fold
from services.reporting.adapters.tables import rejections
from shared.db import bulk
from shared.db.bulk import UnwritableValue


class FakeDriver:
    """asyncpg's connection as the batch writers use it; `in_transaction` as SQLAlchemy left it."""

    def __init__(self, *, in_transaction: bool = True, copy_error: Exception | None = None) -> None:
        self.in_transaction, self.copy_error = in_transaction, copy_error
        self.sent: list[tuple[str, ...]] = []

    def is_in_transaction(self) -> bool:
        return self.in_transaction

    async def execute(self, statement: str, *_: object) -> None:
        self.sent.append(("execute", statement.split(" (", 1)[0]))

    async def copy_records_to_table(self, table: str, *, records: list[tuple[Any, ...]], columns: list[str]) -> None:
        if self.copy_error is not None:
            raise self.copy_error
        self.sent.append(("copy", table))


class FakeConnection:
    """SQLAlchemy's connection (or a session on PostgreSQL): the statements run through it, not the driver."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def get_bind(self) -> Any:
        return SimpleNamespace(dialect=SimpleNamespace(name="postgresql"))

    async def connection(self) -> FakeConnection:
        return self

    async def execute(self, statement: object) -> None:
        self.ran.append(str(statement))


def _through(monkeypatch: pytest.MonkeyPatch, module: object, driver: FakeDriver, connection: FakeConnection) -> None:
    async def driver_of(given: object) -> FakeDriver:
        assert given is connection  # the caller's own connection, its transaction
        return driver

    monkeypatch.setattr(module, "driver_of", driver_of)


@pytest.mark.parametrize("in_transaction", [True, False])
async def test_a_sessions_batch_driver_is_the_driver_of_its_connection(
    monkeypatch: pytest.MonkeyPatch, in_transaction: bool
) -> None:
    """Within SQLAlchemy's transaction: begun by a statement of SQLAlchemy's when none was yet."""
    session, driver = FakeConnection(), FakeDriver(in_transaction=in_transaction)
    _through(monkeypatch, bulk, driver, session)
    assert await bulk.driver(cast(AsyncSession, session)) is driver
    assert session.ran == ([] if in_transaction else ["SELECT 1"])


async def test_reportings_fold_copies_and_upserts_on_the_driver_of_its_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection, driver = FakeConnection(), FakeDriver()
    _through(monkeypatch, pg_fold, driver, connection)
    rows: list[list[tuple[Any, ...]]] = [[] for _ in pg_fold.STAGES]
    rows[-1] = [("r1",)]  # one rejection: its stage alone
    await pg_fold.copy_and_upsert(cast(AsyncConnection, connection), rows)
    staging = pg_fold.STAGES[-1][0]
    assert connection.ran == ["SELECT 1"]  # SQLAlchemy's transaction begun first, the COPY inside it
    assert driver.sent == [
        ("execute", f"CREATE TEMP TABLE IF NOT EXISTS {staging}"),
        ("copy", staging),
        ("execute", f"INSERT INTO {rejections.name}"),
    ]


async def test_a_value_the_drivers_copy_cannot_carry_is_still_unwritable(monkeypatch: pytest.MonkeyPatch) -> None:
    connection, driver = FakeConnection(), FakeDriver(copy_error=OverflowError("int too big"))
    _through(monkeypatch, pg_fold, driver, connection)
    rows: list[list[tuple[Any, ...]]] = [[("r1",)], *([] for _ in pg_fold.STAGES[1:])]
    with pytest.raises(UnwritableValue, match="OverflowError"):
        await pg_fold.copy_and_upsert(cast(AsyncConnection, connection), rows)
