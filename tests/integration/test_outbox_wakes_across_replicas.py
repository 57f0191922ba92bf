"""Rows stored on a replica whose relay does not run wake the relay that does (PostgreSQL's NOTIFY)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from faststream.kafka import KafkaBroker

from services.intake.adapters.tables import OutboxRow
from shared.db import build_engine, session_factory
from shared.db.outbox import OutboxRelay
from shared.topics import TopicNames
from tests.support.infra import empty_database
from tests.support.waiting import eventually


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with empty_database("outboxwake") as url:
        yield url


class CountedPasses(OutboxRelay):
    """A relay whose passes read nothing and send nothing: only when they run counts here."""

    passes = 0

    async def deliver_pending(self) -> int:
        self.passes += 1
        return 0


async def test_a_row_stored_where_the_relay_does_not_run_wakes_the_relay_that_runs(database_url: str) -> None:
    # only the leading replica runs the relay; another replica's store woke its own relay, which was not running,
    # and what it stored waited for the leader's next poll (a second by default: half the records of two replicas)
    engines = [build_engine(database_url) for _ in range(2)]
    leader, other = (
        CountedPasses(session_factory(engine), KafkaBroker(), TopicNames(""), OutboxRow, poll_interval_s=60)
        for engine in engines
    )
    relaying = asyncio.create_task(leader.run())
    try:
        await eventually(lambda: leader.passes >= 1, within=10)
        await asyncio.sleep(1)  # the first pass's own wake-ups are over, and the leader listens
        before = leader.passes
        other.wake()  # as the other replica's store does once its rows are committed
        await eventually(lambda: leader.passes > before, within=5)
    finally:
        relaying.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relaying
        for engine in engines:
            await engine.dispose()
