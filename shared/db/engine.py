"""Async engines for PostgreSQL (asyncpg) or the embedded SQLite default (aiosqlite)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, cast

import asyncpg
from sqlalchemy import event, exc, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


# an execution option: the transactions begun on a connection with it read, or are one statement (SingleStatements).
# On SQLite they begin deferred, taking the store's write lock only at a write, if any; every other transaction
# begins IMMEDIATE (`_sqlite_begin`)
ONE_STATEMENT_OR_READS = "popflow_one_statement_or_reads"

# `plan_each_time` (below) for one transaction, where one statement of a service's needs it and the rest need not:
# run first in the transaction (intake's route update, reporting's fold)
PLANNED_IN_THIS_TRANSACTION = text("SET LOCAL plan_cache_mode = force_custom_plan")


def build_engine(url: str, *, plan_each_time: bool = False, pool_size: int = 20) -> AsyncEngine:
    """An engine for `url`; for SQLite the folder is created and WAL mode switched on.

    `plan_each_time` (PostgreSQL): every statement planned for the tables as they are when it runs.
    A prepared statement's generic plan is kept for the connection's life once made; one made while
    a young deployment's tables were nearly empty scans them whole for every execution after, until
    an ANALYZE (notification's claims: 2-3 ms each where a plan made later took 0.4, docs/performance.md
    round 16; routing's look-up of handled events, 15-100 ms a batch, round 18). For a service whose
    statements join or scan tables that grow; planning costs each execution about 0.2-0.7 ms of the
    server's CPU, so the others keep their generic plans.
    """
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        # libpq's form, as PostgreSQL's own tools and most guides write it: SQLAlchemy would take it for psycopg,
        # which PopFlow does not install (a ModuleNotFoundError at start-up); asyncpg is PopFlow's driver
        parsed = parsed.set(drivername="postgresql+asyncpg")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        # the engine's own dialect object: SQLAlchemy calls it within its error handling, where an event is outside
        engine.sync_engine.dialect.do_begin = _sqlite_do_begin  # type: ignore[method-assign]
        return engine
    # asyncpg negotiates TLS when the server offers it (Debian's does); on loopback that
    # costs a third of a service's CPU and protects nothing. An explicit ?ssl=... wins.
    server_settings = {"application_name": replica_name()}
    if plan_each_time:
        server_settings["plan_cache_mode"] = "force_custom_plan"
    connect_args: dict[str, object] = {"server_settings": server_settings}
    if parsed.host in LOOPBACK and "ssl" not in parsed.query:
        connect_args["ssl"] = False
    # No pre-ping (a round trip per checkout): a connection the server closed is found without one
    # (`_replace_closed`), and stale ones are recycled. No overflow: connections opened past the pool
    # were closed again on return, and under load that churn (a TCP and auth handshake each) showed
    # in the profile.
    engine = create_async_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=0,
        pool_recycle=1800,
        pool_timeout=10,
        connect_args=connect_args,
        hide_parameters=True,  # an error's message would otherwise quote the row: names, sealed or not
    )
    event.listen(engine.sync_engine, "checkout", _replace_closed)
    return engine


def _replace_closed(dbapi_connection: Any, _record: object, _proxy: object) -> None:
    """A pooled connection the server dropped while it sat idle (a restart of PostgreSQL, a terminated
    backend) is replaced by a new one as it is checked out, instead of failing the request that drew it.

    asyncpg knows as soon as the socket closes, so the check is local: no round trip, as a pre-ping
    would be. SQLAlchemy opens the new connection; a store that cannot be reached fails the checkout
    as before. A connection dropped with a statement in flight is the statement's error to handle."""
    if cast(asyncpg.Connection, dbapi_connection.driver_connection).is_closed():
        raise exc.DisconnectionError("closed by the server while idle in the pool")


def replica_name() -> str:
    """Who a connection belongs to, as pg_stat_activity shows it: which replica holds a leader's lock."""
    return f"popflow {socket.gethostname()}:{os.getpid()}"[:63]


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    # the driver's own transactions off: it began one only at a write, so each read before a transaction's first
    # write (a FOR UPDATE among them, which SQLite does not know) ran as a snapshot of its own; `_sqlite_begin`
    # and `_sqlite_do_begin` begin them instead
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_BEGIN = "popflow_begin"  # the pooled connection's info: the statement `_sqlite_do_begin` begins the transaction with


def _sqlite_begin(connection: Connection) -> None:
    """Choose how the transaction SQLAlchemy begins is begun, as SQLite's driver would not (`_sqlite_pragmas`).

    IMMEDIATE: the store's write lock is taken at once, waiting (the connection's timeout) while another
    transaction holds it, so a transaction that reads and then writes what it read is the only writer from its
    first read to its commit, as FOR UPDATE makes it on PostgreSQL. Begun deferred, two such transactions
    would both read, and the second to write would fail on the first's commit instead of waiting for it.
    A transaction that only reads, or is one statement, says so (ONE_STATEMENT_OR_READS) and begins deferred:
    it waits for no writer, holds none back (WAL), and takes the lock at its write, if it has one. Any other
    read waits for a writer as a writer does.

    The statement is sent by the dialect's begin (`_sqlite_do_begin`), not here: an error raised in this event
    (the lock not had within the timeout) would leave the connection unable to begin a transaction again, its
    next statements each committed alone."""
    options = connection.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        connection.connection.info.pop(_BEGIN, None)
        return
    connection.connection.info[_BEGIN] = "BEGIN" if options.get(ONE_STATEMENT_OR_READS) else "BEGIN IMMEDIATE"


def _sqlite_do_begin(dbapi_connection: Any) -> None:
    """The dialect's begin (its own does nothing on SQLite): the statement `_sqlite_begin` chose."""
    statement = dbapi_connection.info.pop(_BEGIN, None)
    if statement is not None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()


def reading(engine: AsyncEngine) -> AsyncEngine:
    """`engine` for transactions that only read, or are one statement (ONE_STATEMENT_OR_READS): on SQLite they
    take no write lock before a write, so they hold no writer back, and a writer holds none of them back."""
    return engine.execution_options(**{ONE_STATEMENT_OR_READS: True})


def reading_sessions(sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """Sessions of `sessions`' engine for work that only reads (`reading`): in a transaction on PostgreSQL too."""
    return session_factory(reading(sessions.kw["bind"]))


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class SingleStatements:
    """Connections for work that is one statement, a transaction of its own.

    On PostgreSQL the statement is sent alone (autocommit): the same effect
    as between BEGIN and COMMIT, without their two round trips (each costs
    this process about 0.2 ms of CPU on loopback). SQLite, where an
    executemany in autocommit would not be atomic, keeps the transaction.
    Only for a single statement: two need a transaction.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        engine: AsyncEngine = sessions.kw["bind"]
        self._engine = reading(engine)
        self._alone = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.postgres = engine.dialect.name == "postgresql"

    def connect(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return self._alone.connect() if self.postgres else self._engine.begin()

    def read_sessions(self) -> async_sessionmaker[AsyncSession]:
        """ORM sessions for reads of one statement: on PostgreSQL each statement is sent alone, without the
        BEGIN and ROLLBACK around it (the objects read are the caller's, detached, to read)."""
        return session_factory(self._alone if self.postgres else self._engine)

    @asynccontextmanager
    async def driver(self) -> AsyncIterator[asyncpg.Connection]:
        """PostgreSQL only: the asyncpg connection itself, in autocommit, for statements built for it
        (each one its own transaction)."""
        if not self.postgres:
            raise RuntimeError("a driver connection is for PostgreSQL")
        async with self._alone.connect() as connection:
            yield await driver_of(connection)


async def driver_of(connection: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy one (PostgreSQL)."""
    return cast(asyncpg.Connection, (await connection.get_raw_connection()).driver_connection)


@contextmanager
def closed_signal(driver: asyncpg.Connection) -> Iterator[asyncio.Event]:
    """An event set as soon as `driver` sees its connection closed (the server dropped it, the socket broke),
    for as long as the block runs: what holds a session's state (a lock, a LISTEN) stops at once."""
    closed = asyncio.Event()

    def on_closed(_: object) -> None:
        closed.set()

    driver.add_termination_listener(on_closed)
    try:
        yield closed
    finally:
        driver.remove_termination_listener(on_closed)


async def database_ready(engine: AsyncEngine) -> bool:
    async with reading(engine).connect() as connection:
        await connection.execute(text("SELECT 1"))
    return True
