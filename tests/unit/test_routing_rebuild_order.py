"""A rebuild replays records, the bureau's review resolutions and the answers in the order they happened
(tests/support/routing_rebuild.py: the weeks, and why the order matters).

Each partition keeps its order; the partitions of both topics are interleaved
by when each next message happened, so the other person's record, on the
partition read first but seen last, does not draw the resolution ahead of
the record it resolves.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from services.routing.adapters import decision_store
from services.routing.bootstrap import MIGRATIONS
from services.routing.service_layer.rebuild import replay_topics
from shared.clock import FixedClock
from shared.db import session_factory
from shared.events import NoticeAnswered, RecordSubmitted, ReviewResolved
from tests.support import kafka
from tests.support.records import XINSHI, record
from tests.support.routing import routing_context
from tests.support.routing_rebuild import (
    MONDAY,
    RECIPIENTS,
    Live,
    a_week_where_answers_come_between_records,
    a_week_where_order_matters,
    answer_with_a_clock_behind,
    state,
)
from tests.support.stores import migrated_store


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[tuple[Live, str]]:
    """The week as it ran; the first record's id."""
    async with migrated_store("sqlite", "live", MIGRATIONS, tmp_path) as engine:
        clock = FixedClock(MONDAY)
        running = Live(routing_context(session_factory(engine), RECIPIENTS, clock=clock), clock)
        yield running, await a_week_where_order_matters(running)


async def test_a_rebuilt_store_equals_the_live_one_when_a_resolution_came_before_a_later_record(
    live: tuple[Live, str], tmp_path: Path
) -> None:
    running, first = live
    expected = await state(running.context)
    assert (first, 1, "inflow_then_outflow") in {case[:3] for case in expected["cases"]}  # the outflow marked it

    async with migrated_store("sqlite", "rebuilt", MIGRATIONS, tmp_path) as engine:
        rebuilt = routing_context(session_factory(engine), RECIPIENTS, clock=FixedClock(MONDAY + timedelta(days=5)))
        replayed = await replay_topics(rebuilt, running.read)
        assert {topic: (counts.applied, counts.refused) for topic, counts in replayed.items()} == {
            RecordSubmitted.TOPIC: (3, 0),
            ReviewResolved.TOPIC: (1, 0),
            NoticeAnswered.TOPIC: (0, 0),
        }
        assert await state(rebuilt) == expected


async def test_a_message_that_does_not_decode_is_refused_and_the_rest_keep_their_order(
    live: tuple[Live, str], tmp_path: Path
) -> None:
    """Its time unknown, it is refused as soon as it is its partition's next; what follows it waits its turn."""
    running, _ = live
    records = running.partitions[RecordSubmitted.TOPIC][1]
    records.insert(1, b"{not an envelope")  # between the record in review and the outflow
    async with migrated_store("sqlite", "rebuilt", MIGRATIONS, tmp_path) as engine:
        rebuilt = routing_context(session_factory(engine), RECIPIENTS, clock=FixedClock(MONDAY + timedelta(days=5)))
        replayed = await replay_topics(rebuilt, running.read)
        assert (replayed[RecordSubmitted.TOPIC].applied, replayed[RecordSubmitted.TOPIC].refused) == (3, 1)
        assert await state(rebuilt) == await state(running.context)


async def test_a_record_stamped_without_an_offset_is_refused_as_the_live_consumer_dead_letters_it(
    live: tuple[Live, str], tmp_path: Path
) -> None:
    """A producer's envelope whose `occurred_at` has no offset was read as UTC and replayed at that time; it is no
    instant anyone can place (whose clock?), so the live consumer dead-letters it (Envelope refuses it) and the
    rebuild refuses it as it comes, the others replayed in their order."""
    running, _ = live
    happened = MONDAY + timedelta(days=3)
    envelope = kafka.submitted(record(residence_street=XINSHI, sequence=75))
    body = json.loads(envelope.model_dump_json())
    body["occurred_at"] = happened.astimezone(UTC).replace(tzinfo=None).isoformat()
    running.partitions[RecordSubmitted.TOPIC][0].append(json.dumps(body).encode())
    async with migrated_store("sqlite", "rebuilt", MIGRATIONS, tmp_path) as engine:
        rebuilt = routing_context(session_factory(engine), RECIPIENTS, clock=FixedClock(MONDAY + timedelta(days=5)))
        replayed = await replay_topics(rebuilt, running.read)
        assert (replayed[RecordSubmitted.TOPIC].applied, replayed[RecordSubmitted.TOPIC].refused) == (3, 1)
        assert await state(rebuilt) == await state(running.context)
        async with rebuilt.sessions() as session:
            assert await decision_store.load_decision(session, envelope.correlation_id) is None


async def test_a_rebuilt_store_equals_the_live_one_when_answers_came_between_a_persons_records(
    tmp_path: Path,
) -> None:
    async with migrated_store("sqlite", "live", MIGRATIONS, tmp_path) as engine:
        clock = FixedClock(MONDAY)
        running = Live(routing_context(session_factory(engine), RECIPIENTS, clock=clock), clock)
        await a_week_where_answers_come_between_records(running)
        async with migrated_store("sqlite", "rebuilt", MIGRATIONS, tmp_path) as rebuilt_engine:
            rebuilt = routing_context(session_factory(rebuilt_engine), RECIPIENTS, clock=FixedClock(MONDAY))
            await replay_topics(rebuilt, running.read)
            assert await state(rebuilt) == await state(running.context)


@pytest.mark.parametrize(("behind", "refused"), [(timedelta(minutes=10), 0), (timedelta(days=2), 1)])
async def test_an_answer_stamped_before_its_record_waits_for_it_as_long_as_the_live_job_waited(
    tmp_path: Path, behind: timedelta, refused: int
) -> None:
    """A partner's clock behind ours stamps its answer before the record whose notice it answers: the rebuild
    parks it and applies it once the record is replayed, as the live service applied it. Stamped more than the
    parked answers' maximum age before, it is refused (the live store only differs in having applied it)."""
    async with migrated_store("sqlite", "live", MIGRATIONS, tmp_path) as engine:
        clock = FixedClock(MONDAY)
        running = Live(routing_context(session_factory(engine), RECIPIENTS, clock=clock), clock)
        await answer_with_a_clock_behind(running, behind)
        async with migrated_store("sqlite", "rebuilt", MIGRATIONS, tmp_path) as rebuilt_engine:
            rebuilt = routing_context(session_factory(rebuilt_engine), RECIPIENTS, clock=FixedClock(MONDAY))
            replayed = await replay_topics(rebuilt, running.read)
            assert (replayed[NoticeAnswered.TOPIC].applied, replayed[NoticeAnswered.TOPIC].refused) == (
                1 - refused,
                refused,
            )
            if not refused:
                assert await state(rebuilt) == await state(running.context)
