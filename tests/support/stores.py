"""A service's store for tests that run on both databases, and the statements a PostgreSQL engine sends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import build_engine, run_migrations
from tests.support.infra import create_database, drop_database, unique_name

STORES = ["sqlite", "postgresql"]  # the params of a fixture that runs its tests on both


@contextlib.asynccontextmanager
async def migrated_store(kind: str, stem: str, migrations: Path, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on a fresh store of `kind` (a SQLite file under `tmp_path`, or a PostgreSQL
    database dropped afterwards)."""
    name = unique_name(stem)
    url = f"sqlite+aiosqlite:///{tmp_path}/{stem}.db" if kind == "sqlite" else await create_database(name)
    engine = build_engine(url)
    try:
        await run_migrations(engine, migrations)
        await engine.dispose()  # the migrations' connections closed: `logged_statements` sees every one used after
        yield engine
    finally:
        await engine.dispose()
        if kind == "postgresql":
            await drop_database(name)


def logged_statements(engine: AsyncEngine) -> list[str]:
    """Every statement `engine` sends from now on, in order: SQLAlchemy's own and those sent on the asyncpg
    connection itself (BEGIN, COMMIT, statements sent on the driver), on connections opened from now on."""
    statements: list[str] = []

    def log_driver_statements(dbapi_connection: Any, _: Any) -> None:
        if engine.dialect.name == "postgresql":  # SQLite's driver sends nothing SQLAlchemy does not see
            dbapi_connection._connection.add_query_logger(lambda logged: statements.append(logged.query))

    def log_sqlalchemy_statements(*arguments: Any) -> None:
        statements.append(arguments[2])  # SQLAlchemy's own (prepared) statements, which asyncpg does not log

    event.listen(engine.sync_engine, "connect", log_driver_statements)
    event.listen(engine.sync_engine, "before_cursor_execute", log_sqlalchemy_statements)
    return statements


async def backends_waiting_for_a_lock(engine: AsyncEngine, count: int = 1) -> list[int]:
    """The process ids of the sessions of the engine's database that wait for a lock, once `count` of them do
    (20 s at most): a test that holds a writer at a step of its own waits for it there."""
    waiting = text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
    async with asyncio.timeout(20):
        while True:
            async with engine.connect() as connection:
                pids = [int(pid) for pid in (await connection.execute(waiting)).scalars()]
            if len(pids) >= count:
                return pids
            await asyncio.sleep(0.05)
