"""The FTP poll handed over between replicas, on PostgreSQL: both pollers write the same rows at once.

One replica polls at a time, but the one that lost the lead may still be ending its round while the new leader
begins one. Both may then time the same orphan batch file, or record the same batch's outcome, in the same
moment: each finds no row, and each inserts one. The second insert is refused by the key; the round must go on
with the row the first wrote, not fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notification.adapters.exchange_store import ExchangeStore, owe_answer
from services.notification.adapters.ftp_first_listings import FirstListings
from services.notification.adapters.inbox import Inbox
from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.sealed import SealedNotices
from services.notification.bootstrap import MIGRATIONS
from services.notification.domain.exchange_ack import Outcome
from shared.db import build_engine, run_migrations, session_factory
from tests.support.infra import TEST_KEYRING, create_database, drop_database, unique_name

AT = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
KEYS = [f"{n:064x}" for n in range(8)]  # as listing_key and batch_key make them: hex digests


@pytest.fixture
async def sessions() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    name = unique_name("ftphandover_")
    engine = build_engine(await create_database(name))
    await run_migrations(engine, MIGRATIONS)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()
        await drop_database(name)


def exchange_store(sessions: async_sessionmaker[AsyncSession]) -> ExchangeStore:
    sealed = SealedNotices(TEST_KEYRING)
    events = StatusEvents(b"test-person-key-secret", sealed)
    return ExchangeStore(
        sessions, Inbox(sessions, events, sealed, served_districts=["440111"], answers_owed=owe_answer)
    )


async def test_two_pollers_timing_one_orphan_at_once_both_time_it_from_the_first_listing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    listings = FirstListings(sessions)
    for key in KEYS:
        ending, beginning = await asyncio.gather(
            listings.first_listed(key, AT), listings.first_listed(key, AT + timedelta(seconds=30))
        )
        assert ending == beginning
        assert await listings.first_listed(key, AT + timedelta(hours=1)) == ending  # and the row says the same


async def test_a_refusal_by_another_constraint_than_the_key_is_not_taken_for_the_other_pollers_row(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Only the key's refusal means another poller recorded the file first. Any other constraint's refusal (here a
    CHECK the table may gain) is the round's error: not a file timed from `now` each round and never recorded."""
    async with sessions.begin() as session:
        await session.execute(
            text(
                "ALTER TABLE exchange_ftp_first_listed"
                " ADD CONSTRAINT listed_this_century CHECK (first_listed_at >= '2000-01-01')"
            )
        )
    listings = FirstListings(sessions)
    with pytest.raises(IntegrityError):
        await listings.first_listed(KEYS[0], datetime(1999, 12, 31, tzinfo=UTC))
    assert await listings.first_listed(KEYS[0], AT) == AT  # nothing was recorded by the refused insert


async def test_two_pollers_recording_one_batch_at_once_leave_one_row_with_an_outcome(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = exchange_store(sessions)
    for key in KEYS:
        await asyncio.gather(
            store.batch_received(key, Outcome.TAKEN, now=AT),
            store.batch_received(key, Outcome.TAKEN, now=AT + timedelta(seconds=30)),
        )
        assert await store.received_outcome(key) is Outcome.TAKEN


async def test_a_batch_set_aside_then_moved_back_and_taken_keeps_its_latest_outcome(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = exchange_store(sessions)
    await store.batch_received(KEYS[0], Outcome.SET_ASIDE, now=AT)
    assert await store.received_outcome(KEYS[0]) is Outcome.SET_ASIDE
    await store.batch_received(KEYS[0], Outcome.TAKEN, now=AT + timedelta(hours=1))
    assert await store.received_outcome(KEYS[0]) is Outcome.TAKEN
