"""The weekly export's question to the broker: has reporting's group folded what was on its topics? Real Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.reporting.adapters.fold_progress import FoldProgress, behind
from tests.support.infra import kafka_connection, unique_name


@pytest.fixture
async def topic() -> AsyncIterator[str]:
    name = unique_name("fold_progress_")
    admin = AIOKafkaAdminClient(**kafka_connection().options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])
        yield name
    finally:
        await admin.close()


async def _produce(topic: str, count: int) -> None:
    producer = AIOKafkaProducer(**kafka_connection().options(), acks="all")
    await producer.start()
    try:
        for n in range(count):
            await producer.send_and_wait(topic, b"event", key=f"person-{n}".encode())
    finally:
        await producer.stop()


async def _fold_all(topic: str, group: str, count: int) -> None:
    """A member of the group reads `count` events and commits, as the fold does after writing a batch."""
    consumer = AIOKafkaConsumer(
        topic, **kafka_connection().options(), group_id=group, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        read = 0
        while read < count:
            batches = await consumer.getmany(timeout_ms=1000)
            read += sum(len(messages) for messages in batches.values())
        await consumer.commit()
    finally:
        await consumer.stop()


async def test_the_fold_is_settled_once_its_group_committed_past_what_was_on_the_topics(topic: str) -> None:
    group = unique_name("fold_group_")
    progress = FoldProgress(kafka_connection(), topics=[topic, unique_name("never_created_")], group=group, poll_s=0.1)
    assert await progress.settled(within_s=5) is True  # nothing on the topics: nothing to wait for

    await _produce(topic, 6)
    assert await progress.settled(within_s=0.5) is False  # the group has committed nothing
    await _fold_all(topic, group, 6)
    assert await progress.settled(within_s=5) is True

    await _produce(topic, 1)
    assert await progress.settled(within_s=0.5) is False  # one event not folded yet


def test_a_partition_is_behind_until_its_committed_offset_reaches_its_end() -> None:
    a, b, c = (TopicPartition("t", n) for n in range(3))
    assert behind({a: 5, b: 0, c: 2}, {a: 5}) == [c]  # b is empty; c never committed
    assert behind({a: 5, b: 0, c: 2}, {a: 4, c: 2}) == [a]
    assert behind({a: 5, b: 0, c: 2}, {a: 7, c: 2}) == []
