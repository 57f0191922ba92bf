"""Every error a connection PostgreSQL has just dropped raises is "the store is unavailable" (a 503), never a 500.

A restart of PostgreSQL (here pg_terminate_backend) closes each connection under
the client's feet. What asyncpg raises on the next statement depends on how far
it had got in noticing: "connection is closed" (an InterfaceError), "closed in
the middle of operation" (ConnectionDoesNotExistError), or, when the statement
began while the close was being handled, "cannot switch to state 12; another
operation (2) is in progress": an InternalClientError, which is neither a
PostgresError nor an InterfaceError, which SQLAlchemy passes on as it is, and
which intake once answered with a 500 (CI of round 44, tests/e2e/test_store_outage.py).
The statements run on the driver itself (intake's single-statement batches, and
every service's bulk writes), where it arrives as it is, and through SQLAlchemy's
engine (everything else), which wraps it; each until the race has been met.

A connection dropped while it sat idle in the pool raises nothing: it is replaced as it is checked out.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

import asyncpg
import pytest
from sqlalchemy import event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker

from shared.db import build_engine
from shared.db.engine import SingleStatements
from shared.db.errors import driver_error_name, is_unavailable
from tests.support.infra import create_database, drop_clients, drop_database, pg_admin_url, unique_name
from tests.support.waiting import eventually

ROUNDS = 400  # at most: the race showed in about one round in twenty on the build box
CONNECTIONS = 5


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def database() -> AsyncIterator[str]:
    name = unique_name("dropped")
    url = await create_database(name)
    try:
        yield url
    finally:
        await drop_database(name)


async def _errors_after_drops(
    database_url: str, open_one: Callable[[], Awaitable[Callable[[], Awaitable[object]]]]
) -> list[BaseException]:
    """Open connections, drop them all, run a statement on each at once; again until an InternalClientError."""
    admin = await asyncpg.connect(_plain(pg_admin_url()))
    name = make_url(database_url).database
    assert name is not None
    errors: list[BaseException] = []
    try:
        for round_number in range(ROUNDS):
            statements = [await open_one() for _ in range(CONNECTIONS)]
            await drop_clients(admin, name)
            await asyncio.sleep((round_number % 20) * 0.0002)  # the notice of the close arrives at its own pace
            outcomes = await asyncio.gather(*(statement() for statement in statements), return_exceptions=True)
            errors += [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
            if any(driver_error_name(error) == "InternalClientError" for error in errors):
                break
    finally:
        await admin.close()
    return errors


async def test_every_error_of_a_dropped_driver_connection_is_unavailable(database: str) -> None:
    opened: list[asyncpg.Connection] = []

    async def open_one() -> Callable[[], Awaitable[object]]:
        connection = await asyncpg.connect(_plain(database), ssl=False)
        await connection.fetchval("SELECT 1")
        opened.append(connection)
        return lambda: connection.fetchval("SELECT 1")

    try:
        errors = await _errors_after_drops(database, open_one)
    finally:
        for connection in opened:
            connection.terminate()
    kinds = Counter(driver_error_name(error) for error in errors)
    assert kinds["InternalClientError"] > 0, kinds  # the race was met: the check below covers it
    assert [driver_error_name(error) for error in errors if not is_unavailable(error)] == [], kinds


async def test_every_error_of_a_dropped_engine_connection_is_unavailable(database: str) -> None:
    engine = build_engine(database)
    stale: list[BaseException] = []  # met on a connection the pool handed out, dropped in an earlier round

    async def open_one() -> Callable[[], Awaitable[object]]:
        for _ in range(CONNECTIONS + 1):
            connection = await engine.connect()
            try:
                await connection.execute(text("SELECT 1"))
                break
            except Exception as error:
                stale.append(error)
                await connection.close()
        else:
            raise AssertionError("no live connection")

        async def statement() -> object:
            try:
                return await connection.execute(text("SELECT 1"))
            finally:
                await connection.close()

        return statement

    try:
        errors = await _errors_after_drops(database, open_one)
    finally:
        await engine.dispose()
    errors += stale
    kinds = Counter(driver_error_name(error) for error in errors)
    assert kinds["InternalClientError"] > 0, kinds
    assert [driver_error_name(error) for error in errors if not is_unavailable(error)] == [], kinds


async def test_idle_pooled_connections_the_server_dropped_are_replaced_as_they_are_checked_out(database: str) -> None:
    """Each would have failed the first statement sent on it: a request answered 503 per pooled connection
    after a restart of PostgreSQL, on the driver (which SQLAlchemy's own check never sees) and through
    SQLAlchemy alike."""
    engine = build_engine(database)
    single = SingleStatements(async_sessionmaker(engine))
    admin = await asyncpg.connect(_plain(pg_admin_url()))
    try:
        held = [await engine.connect() for _ in range(CONNECTIONS)]
        drivers = [cast(asyncpg.Connection, (await c.get_raw_connection()).driver_connection) for c in held]
        before = {await connection.scalar(text("SELECT pg_backend_pid()")) for connection in held}
        for connection in held:
            await connection.close()  # back to the pool, idle
        name = make_url(database).database
        assert name is not None
        assert await drop_clients(admin, name) == CONNECTIONS
        await eventually(lambda: all(driver.is_closed() for driver in drivers), within=10)  # read as it comes

        async def on_the_driver() -> int:
            async with single.driver() as driver:
                return int(await driver.fetchval("SELECT pg_backend_pid()"))

        async def through_sqlalchemy() -> int:
            async with engine.connect() as connection:
                return int(await connection.scalar(text("SELECT pg_backend_pid()")))

        half = CONNECTIONS // 2
        pids = await asyncio.gather(
            *[on_the_driver() for _ in range(half)], *[through_sqlalchemy() for _ in range(CONNECTIONS - half)]
        )
    finally:
        await admin.close()
        await engine.dispose()
    assert len(set(pids)) == CONNECTIONS
    assert not set(pids) & before, "new connections, every one"


async def test_a_checkout_whose_new_connections_are_closed_too_is_the_store_unavailable(database: str) -> None:
    """SQLAlchemy replaces a connection the checkout listener refuses, once; refused again, it raises an
    InvalidRequestError with no driver error behind it. Only a server closing each connection as it opens
    gets there, and that is the store's state: a 503, not a 500."""
    engine = build_engine(database)

    def closed_again(*_: object) -> None:
        raise exc.DisconnectionError("closed by the server while idle in the pool")

    event.listen(engine.sync_engine, "checkout", closed_again)
    try:
        with pytest.raises(exc.InvalidRequestError) as raised:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert is_unavailable(raised.value)
