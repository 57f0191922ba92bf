"""`rebuild` reads each partition of real topics as a stream of its own, and replays the records, the
review resolutions and the answers in the order they happened (tests/support/routing_rebuild.py), on
PostgreSQL.

The live weeks' messages are published to the partitions the live service read them from: the other
person's record on partition 0 of records.submitted (read in fetch order, it would come first), the
answers on partition 0 of notices.answered and the records they come between on partition 1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from services.routing.bootstrap import MIGRATIONS
from services.routing.service_layer.rebuild import rebuild
from shared.clock import FixedClock
from shared.events import NoticeAnswered, RecordSubmitted, ReviewResolved
from shared.kafka.admin import ensure_topics
from shared.topics import TopicNames
from tests.support.infra import kafka_at, kafka_bootstrap, kafka_options, migrated_database, unique_name
from tests.support.routing import routing_context
from tests.support.routing_rebuild import (
    MONDAY,
    RECIPIENTS,
    Live,
    a_week_where_answers_come_between_records,
    a_week_where_order_matters,
    state,
)

TOPICS = (RecordSubmitted.TOPIC, ReviewResolved.TOPIC, NoticeAnswered.TOPIC)


Week = Callable[[Live], Awaitable[object]]


@pytest.fixture
async def live() -> AsyncIterator[tuple[Live, TopicNames]]:
    """The week where a resolution comes before a later record, as it ran, on topics of its own."""
    async with ran(a_week_where_order_matters) as running:
        yield running


@pytest.fixture
async def live_answers() -> AsyncIterator[tuple[Live, TopicNames]]:
    """The week where answers come between a person's records, as it ran, on topics of its own."""
    async with ran(a_week_where_answers_come_between_records) as running:
        yield running


@asynccontextmanager
async def ran(week: Week) -> AsyncIterator[tuple[Live, TopicNames]]:
    """`week` run live, its messages then published to topics of their own (two partitions each)."""
    topics = TopicNames(f"{unique_name('rebuild-order')}.")
    await ensure_topics(kafka_at(kafka_bootstrap()), [topics(t) for t in TOPICS], partitions=2, replication=1)
    async with migrated_database("rebuild-order-live", MIGRATIONS) as sessions:
        clock = FixedClock(MONDAY)
        running = Live(routing_context(sessions, RECIPIENTS, clock=clock), clock)
        await week(running)
        await publish(running, topics)
        yield running, topics


async def publish(live: Live, topics: TopicNames) -> None:
    producer = AIOKafkaProducer(**kafka_options(kafka_bootstrap()), enable_idempotence=True)
    await producer.start()
    try:
        for topic, partitions in live.partitions.items():
            for partition, messages in partitions.items():
                for message in messages:
                    await producer.send_and_wait(topics(topic), message, partition=partition)
    finally:
        await producer.stop()


async def test_a_store_rebuilt_from_the_topics_equals_the_live_one(live: tuple[Live, TopicNames]) -> None:
    running, topics = live
    replayed, rebuilt = await rebuilt_from(topics)
    assert replayed == {RecordSubmitted.TOPIC: (3, 0), ReviewResolved.TOPIC: (1, 0), NoticeAnswered.TOPIC: (0, 0)}
    assert rebuilt == await state(running.context)


async def test_a_store_rebuilt_from_the_topics_equals_the_live_one_when_answers_came_between_records(
    live_answers: tuple[Live, TopicNames],
) -> None:
    """An answer that moved a case to another street before the person's outflow was reported is replayed
    before that outflow, as the live service applied it: the outflow marks (or leaves) the case by the street
    it lived at then. Replayed after every record, the outflow found the case at its first street."""
    running, topics = live_answers
    expected = await state(running.context)
    assert len(expected["left"]) == 2  # the case moved to the street then left, and the one confirmed then left
    replayed, rebuilt = await rebuilt_from(topics)
    assert replayed == {RecordSubmitted.TOPIC: (6, 0), ReviewResolved.TOPIC: (0, 0), NoticeAnswered.TOPIC: (3, 0)}
    assert rebuilt == expected


async def rebuilt_from(topics: TopicNames) -> tuple[dict[str, tuple[int, int]], dict[str, list[tuple[Any, ...]]]]:
    """A store rebuilt from the topics into a new database: (applied, refused) by topic, and its state."""
    async with migrated_database("rebuild-order-new", MIGRATIONS) as sessions:
        rebuilt = routing_context(sessions, RECIPIENTS, clock=FixedClock(MONDAY + timedelta(days=5)))
        replayed = await rebuild(rebuilt, kafka=kafka_at(kafka_bootstrap()), topics=topics)
        return {topic: (c.applied, c.refused) for topic, c in replayed.items()}, await state(rebuilt)
