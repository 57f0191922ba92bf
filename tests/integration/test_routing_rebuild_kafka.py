"""`rebuild` reads each partition of real topics as a stream of its own, and replays the records and the
review resolutions in the order they happened (tests/support/routing_rebuild.py), on PostgreSQL.

The live week's messages are published to the partitions the live service read them from, the other
person's record on partition 0 of records.submitted: read in fetch order, it would come first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

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
from tests.support.routing_rebuild import MONDAY, RECIPIENTS, Live, a_week_where_order_matters, state

TOPICS = (RecordSubmitted.TOPIC, ReviewResolved.TOPIC, NoticeAnswered.TOPIC)


@pytest.fixture
async def live() -> AsyncIterator[tuple[Live, TopicNames]]:
    """The week as it ran, its messages on topics of their own (two partitions each)."""
    topics = TopicNames(f"{unique_name('rebuild-order')}.")
    await ensure_topics(kafka_at(kafka_bootstrap()), [topics(t) for t in TOPICS], partitions=2, replication=1)
    async with migrated_database("rebuild-order-live", MIGRATIONS) as sessions:
        clock = FixedClock(MONDAY)
        running = Live(routing_context(sessions, RECIPIENTS, clock=clock), clock)
        await a_week_where_order_matters(running)
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
    async with migrated_database("rebuild-order-new", MIGRATIONS) as sessions:
        rebuilt = routing_context(sessions, RECIPIENTS, clock=FixedClock(MONDAY + timedelta(days=5)))
        replayed = await rebuild(rebuilt, kafka=kafka_at(kafka_bootstrap()), topics=topics)
        assert {topic: (counts.applied, counts.refused) for topic, counts in replayed.items()} == {
            RecordSubmitted.TOPIC: (3, 0),
            ReviewResolved.TOPIC: (1, 0),
            NoticeAnswered.TOPIC: (0, 0),
        }
        assert await state(rebuilt) == await state(running.context)
