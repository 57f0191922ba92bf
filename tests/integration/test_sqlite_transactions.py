"""Transactions on the embedded SQLite store (`build_engine`): one store from a transaction's first read to its end.

SQLite's driver begins a transaction only at a write, so a transaction's reads
before it, a FOR UPDATE among them (which SQLite does not know), each saw the
store anew: two that read a value and wrote what they made of it both read the
same value, and the second write undid the first. The engine now begins every
transaction itself, IMMEDIATE (the store's write lock at once), except where it
is told that the transaction reads or is one statement.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.notification.adapters.deliveries import DeliveryStore
from services.notification.adapters.exchange_store import ExchangeStore, owe_answer
from services.notification.adapters.inbox import Inbox
from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.secrets import SecretBox
from services.notification.adapters.tables import OutboxRow
from services.notification.adapters.webhooks import WebhookStore
from services.notification.bootstrap import MIGRATIONS as NOTIFICATION_MIGRATIONS
from services.reporting.adapters.quality_store import QualityStore
from services.reporting.bootstrap import MIGRATIONS as REPORTING_MIGRATIONS
from services.reporting.domain.weeks import WeekCalendar
from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.service_layer import views
from shared.auth import Principal, parse_scope
from shared.auth.store import MIGRATIONS as KEY_MIGRATIONS
from shared.auth.store import KeyStore
from shared.clock import FixedClock
from shared.db import build_engine, database_ready, run_migrations
from shared.db.engine import SingleStatements, reading, session_factory
from shared.db.outbox_set_aside import SetAsideRows
from shared.db.sentinel import sealed_with_other_keys
from tests.support.infra import TEST_KEYRING
from tests.support.records import BAIYUN, TONGDE
from tests.support.reporting import report_service
from tests.support.routing import sqlite_routing

pytestmark = pytest.mark.integration

counters = sa.Table(
    "counters", sa.MetaData(), sa.Column("name", sa.Text, primary_key=True), sa.Column("n", sa.Integer, nullable=False)
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(counters.metadata.create_all)
        await connection.execute(counters.insert().values(name="a", n=0))
    yield engine
    await engine.dispose()


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(sa.select(counters.c.n)) or 0)


async def add_one(engine: AsyncEngine, read: asyncio.Event, go_on: asyncio.Event) -> None:
    """Read the counter as a locked read, let the other one run, then write what was read plus one."""
    async with engine.begin() as connection:
        n = await connection.scalar(sa.select(counters.c.n).with_for_update())
        read.set()
        await go_on.wait()
        await connection.execute(counters.update().values(n=int(n or 0) + 1))


async def test_two_transactions_that_read_then_write_go_one_after_the_other(engine: AsyncEngine) -> None:
    first_read, first_goes_on, second_read, at_once = asyncio.Event(), asyncio.Event(), asyncio.Event(), asyncio.Event()
    at_once.set()
    first = asyncio.create_task(add_one(engine, first_read, first_goes_on))
    await first_read.wait()
    second = asyncio.create_task(add_one(engine, second_read, at_once))
    try:
        await asyncio.sleep(0.3)
        # the second waits for the store's lock before it reads, instead of reading what the first is changing
        second_waited = not second_read.is_set()
    finally:
        first_goes_on.set()
        await asyncio.wait_for(asyncio.gather(first, second), 10)
    assert second_waited
    assert await count(engine) == 2


async def test_a_transaction_that_reads_sees_one_store_and_holds_no_writer_back(engine: AsyncEngine) -> None:
    async with reading(engine).connect() as connection:
        before = await connection.scalar(sa.select(counters.c.n))
        await asyncio.wait_for(write(engine, 5), 5)  # not held back by the reading transaction
        assert await connection.scalar(sa.select(counters.c.n)) == before == 0
    assert await count(engine) == 5


async def test_one_statement_and_the_readiness_check_do_not_wait_for_a_writer(engine: AsyncEngine) -> None:
    single = SingleStatements(session_factory(engine))
    async with engine.begin() as writing:
        await writing.execute(counters.update().values(n=7))  # the store's write lock held from here to the end
        async with single.connect() as connection:
            assert await asyncio.wait_for(connection.scalar(sa.select(counters.c.n)), 5) == 0
        async with single.read_sessions()() as session:
            assert await asyncio.wait_for(session.scalar(sa.select(counters.c.n)), 5) == 0
        assert await asyncio.wait_for(database_ready(engine), 5)
    assert await count(engine) == 7


async def test_a_connection_used_in_autocommit_begins_its_next_transactions_itself(engine: AsyncEngine) -> None:
    async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
        await connection.execute(counters.update().values(n=3))
    assert await count(engine) == 3  # written at once, as autocommit writes
    # the pool's one connection again, its driver reset by SQLAlchemy to begin at writes only
    async with engine.connect() as connection:
        await connection.scalar(sa.select(counters.c.n))
        assert await in_transaction(connection)


async def write(engine: AsyncEngine, n: int) -> None:
    async with engine.begin() as connection:
        await connection.execute(counters.update().values(n=n))


async def in_transaction(connection: AsyncConnection) -> bool:
    """Whether SQLite itself has a transaction open on the connection (not only SQLAlchemy)."""
    raw = await connection.get_raw_connection()
    return bool(raw.driver_connection.in_transaction)  # type: ignore[union-attr]


async def test_reporting_reads_a_week_while_the_fold_holds_the_store(tmp_path: Path) -> None:
    """The weekly report page's reads (the campaign running, the street weeks, the sign-offs) and the quality
    figures' begin deferred: a fold's batch being written (the store's write lock held) does not hold a clerk's report
    back, nor does a long report hold the fold back."""
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path / 'reporting.db'}")
    try:
        await run_migrations(engine, REPORTING_MIGRATIONS)
        calendar = WeekCalendar(ZoneInfo("Asia/Shanghai"))
        reports = report_service(engine, calendar, FixedClock(datetime(2027, 2, 26, 2, tzinfo=UTC)))
        bounds = calendar.bounds("2027-W08")
        async with engine.begin() as folding:
            await folding.execute(sa.text("DELETE FROM report_records WHERE record_id = 'none'"))
            page = await asyncio.wait_for(reports.weekly(BAIYUN, "2027-W08"), 5)
            quality = await asyncio.wait_for(
                QualityStore(engine).counts(bounds, TONGDE, as_of=bounds.ends_at, answer_target=timedelta(days=7)), 5
            )
        assert (sum(page["routes"].values()), quality) == (0, {})
    finally:
        await engine.dispose()


async def test_a_clerk_reads_a_case_while_a_routing_batch_holds_the_store(tmp_path: Path) -> None:
    """Routing's views, the review queue and its gauges read on sessions that say so (`RoutingContext.reads`): a
    batch holding the store (across Kafka's confirmation of its events, a while when Kafka is slow) does not hold
    them back for the connection's 30 s."""
    recipients = Recipients.of(["440111"], ExchangeTable({}, ExchangeEndpoint("national", "https://cn")))
    clerk = Principal("k", parse_scope("district:440111"))
    async with sqlite_routing(tmp_path, recipients) as context, context.sessions.begin() as batch:
        await batch.execute(sa.text("DELETE FROM routed_records WHERE record_id = 'none'"))
        seen = await asyncio.wait_for(
            asyncio.gather(
                views.case(context, clerk, "no-such-record"),
                views.decision(context, clerk, "no-such-record"),
                views.review_queue(context, clerk, limit=10),
            ),
            5,
        )
    assert seen == [None, None, []]


async def test_an_office_s_lists_and_the_exchange_overview_read_while_a_push_is_recorded(tmp_path: Path) -> None:
    """Notification's reads that only read (a notice's push history, the failed list, a webhook, the exchange
    overview's counts and lists, the outbox's set-aside rows) and the key store's list of keys begin deferred: a
    transaction holding the store (a push's attempts recorded, a key created) holds none of them back."""
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path / 'notification.db'}")
    try:
        await run_migrations(engine, NOTIFICATION_MIGRATIONS)
        await run_migrations(engine, KEY_MIGRATIONS, version_table="alembic_version_keys")  # one store, as a test may
        sessions, sealed = session_factory(engine), SealedNotices(TEST_KEYRING)
        events = StatusEvents(b"test-person-key-secret", sealed)
        inbox = Inbox(sessions, events, sealed, served_districts=["440111"], answers_owed=owe_answer)
        deliveries, exchange = DeliveryStore(sessions, events), ExchangeStore(sessions, inbox)
        webhooks = WebhookStore(sessions, SecretBox("a-secret-for-the-test"))
        set_aside, keys = SetAsideRows(sessions, OutboxRow, wake=lambda: None), KeyStore(engine)
        async with engine.begin() as recording:
            await recording.execute(sa.text("DELETE FROM deliveries WHERE notice_id = 'none'"))
            seen = await asyncio.wait_for(
                asyncio.gather(
                    deliveries.history("no-such-notice"),
                    deliveries.failed(prefix="440111", limit=10),
                    webhooks.get("440111001"),
                    exchange.answer_owed("no-such-message"),
                    exchange.delivery_counts(),
                    exchange.received_counts(),
                    exchange.refused(limit=10),
                    exchange.failed_destinations(),
                    exchange.failed_to(["440111"], limit=10),
                    exchange.was_set_aside("no-such-file"),
                    exchange.set_aside_files(limit=10),
                    exchange.received_outcome("no-such-batch"),
                    exchange.acknowledged_counts(),
                    exchange.batch_counts(),
                    set_aside.rows(limit=10),
                    keys.list_keys(),
                    sealed_with_other_keys(engine, TEST_KEYRING),
                ),
                5,
            )
        assert seen == [(None, []), [], None, None, [], {}, [], [], [], False, [], None, {}, {}, [], [], False]
    finally:
        await engine.dispose()


async def test_a_begin_that_waited_too_long_leaves_the_connection_beginning_its_transactions(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The lock not had within the connection's timeout fails the statement that began the transaction; the same
    connection's next transaction is still one (its write undone by a rollback), not a statement committed alone."""
    async with engine.connect() as connection:
        await connection.exec_driver_sql("PRAGMA busy_timeout = 100")  # a short wait, for the test
        await connection.rollback()
        with sqlite3.connect(tmp_path / "store.db") as other:
            other.execute("BEGIN IMMEDIATE")  # another process holds the store
            with pytest.raises(OperationalError, match="locked"):
                await connection.execute(sa.select(counters.c.n))
            other.rollback()
        await connection.rollback()
        await connection.execute(counters.update().values(n=42))
        await connection.rollback()
    assert await count(engine) == 0
