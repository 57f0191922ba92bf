"""A subscriber's kept offsets are committed when it stops and when a rebalance takes its partitions (real Kafka).

Offsets are committed a while after their batches (shared.kafka.commits), here
a minute, longer than each test: what the group has committed by the end is
what a stop or a rebalance committed. Without those commits a restarted
service, or a replica given the partitions, would read again what was done.
The same in memory, with the commit a while after: tests/unit/test_offset_commits.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from faststream.kafka import KafkaBroker

from shared.events import Envelope, Event
from shared.kafka import commits
from shared.kafka.admin import ensure_topics
from shared.kafka.consuming import subscribe
from shared.topics import RECORDS_SUBMITTED, TopicNames
from tests.support import kafka
from tests.support.infra import TEST_KEYRING, kafka_bootstrap, kafka_connection, unique_name
from tests.support.records import record
from tests.support.waiting import eventually

COUNT = 12  # keyed apart: both partitions get some


@pytest.fixture(autouse=True)
def commits_kept_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commits, "COMMIT_EVERY_S", 60.0)


async def on_a_topic() -> TopicNames:
    topics = TopicNames(unique_name("commits.") + ".")
    await ensure_topics(kafka_connection(), topics.all(), partitions=2, replication=1)
    bodies = [
        (f"person-{n}", kafka.submitted(record(sequence=n + 1), record_id=f"r{n}").model_dump_json().encode())
        for n in range(COUNT)
    ]
    await kafka.publish_raw(kafka_bootstrap(), topics(RECORDS_SUBMITTED), bodies)
    return topics


def member(topics: TopicNames, handled: list[str]) -> KafkaBroker:
    broker = KafkaBroker(kafka_bootstrap())

    async def handler(envelope: Envelope, _: Event) -> None:
        handled.append(envelope.correlation_id)

    subscribe(broker, topics, topic=RECORDS_SUBMITTED, group="commits", handler=handler, keyring=TEST_KEYRING)
    return broker


async def caught_up(topics: TopicNames) -> bool:
    return await kafka.caught_up(kafka_bootstrap(), topics("commits"), [topics(RECORDS_SUBMITTED)])


async def test_a_stopping_subscriber_commits_what_it_has_done() -> None:
    topics, handled = await on_a_topic(), list[str]()
    broker = member(topics, handled)
    await broker.start()
    try:
        assert await eventually(lambda: len(handled) == COUNT, within=30)
        assert not await caught_up(topics), "kept, not committed at once"
    finally:
        await broker.stop()
    assert await caught_up(topics)


async def test_partitions_a_rebalance_takes_are_committed_for_their_next_owner() -> None:
    topics, first, second = await on_a_topic(), list[str](), list[str]()
    one, other = member(topics, first), member(topics, second)
    await one.start()
    try:
        assert await eventually(lambda: len(first) == COUNT, within=30)
        await other.start()  # the group gives it a partition: the first member's kept offsets are committed
        try:

            def assigned() -> bool:
                consumer: Any = other.subscribers[0].consumer  # type: ignore[attr-defined]
                return consumer is not None and bool(consumer.assignment())

            assert await eventually(assigned, within=30)
            assert await caught_up(topics), "committed when the partitions were taken, before any stop"
        finally:
            await other.stop()
    finally:
        await one.stop()
    assert sorted(first) == sorted(f"r{n}" for n in range(COUNT))
    assert second == [], "the new owner read nothing again"
