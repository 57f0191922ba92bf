"""A subscriber's offsets are committed a while after its batches, several batches in one commit (in memory).

Every batch was committed as soon as it was handled: at a trickle, a commit
of each group a record passed through, for every record (docs/performance.md,
round 56). A scripted consumer stands in for Kafka here, and counts commits.
The same on a real broker, with rebalances and stops:
tests/integration/test_offset_commits.py.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, KafkaConnectionError
from faststream.kafka import KafkaBroker, TestKafkaBroker

from shared.events import Envelope, Event
from shared.kafka import commits as commits_module
from shared.kafka.commits import Commits
from shared.kafka.consuming import subscribe
from shared.topics import RECORDS_SUBMITTED
from tests.support.infra import TEST_KEYRING
from tests.unit.test_dead_letters_not_repeated import PARTITION, TOPIC, TOPICS, records

OTHER = TopicPartition(TOPIC, 1)


class Consumer:
    """An aiokafka consumer's assignment and commits; its commits fail with `failing` while that is set."""

    def __init__(self, *assigned: TopicPartition) -> None:
        self.assigned = set(assigned) or {PARTITION}
        self.commits: list[dict[TopicPartition, int] | None] = []  # None: every position (an acknowledgement)
        self.failing: Exception | None = None

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def seek(self, partition: TopicPartition, offset: int) -> None:
        return None

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        if self.failing is not None:
            raise self.failing
        self.commits.append(None if offsets is None else dict(offsets))


async def test_batches_done_within_a_while_are_committed_together_once_it_is_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(commits_module, "COMMIT_EVERY_S", 0.2)
    handled: list[str] = []

    async def handler(envelope: Envelope, _: Event) -> None:
        handled.append(envelope.correlation_id)

    broker, consumer = KafkaBroker(), Consumer()
    subscribe(broker, TOPICS, topic=RECORDS_SUBMITTED, group="g", handler=handler, keyring=TEST_KEYRING)
    (subscriber,) = broker.subscribers
    log = records("a", "b", "c")
    async with TestKafkaBroker(broker):
        cast(Any, subscriber).parser._setup(consumer)
        for message in log:  # three polls of a message each, as at a trickle
            await cast(Any, subscriber).consume((message,))
        assert handled == ["a", "b", "c"]
        assert consumer.commits == [], "not a commit a batch"
        await asyncio.sleep(0.4)
        assert consumer.commits == [{PARTITION: 3}], "one commit, past the last message done"


async def test_kept_offsets_are_committed_for_the_partitions_still_assigned() -> None:
    consumer, commits = Consumer(PARTITION, OTHER), Commits(every_s=60)
    commits.done(consumer, {(TOPIC, 0): 4, (TOPIC, 1): 7})
    commits.done(consumer, {(TOPIC, 0): 9})
    commits.done(consumer, {(TOPIC, 0): 5})  # never behind what was kept
    consumer.assigned = {OTHER}  # a rebalance took partition 0
    await commits.close()
    assert consumer.commits == [{OTHER: 7}]


async def test_offsets_kafka_did_not_take_are_kept_for_the_next_commit() -> None:
    consumer, commits = Consumer(), Commits(every_s=60)
    consumer.failing = KafkaConnectionError()
    commits.done(consumer, {(TOPIC, 0): 4})
    await commits.commit()
    consumer.failing = None
    await commits.close()
    assert consumer.commits == [{PARTITION: 4}]


async def test_offsets_a_rebalance_took_are_not_committed_again() -> None:
    consumer, commits = Consumer(), Commits(every_s=60)
    consumer.failing = CommitFailedError()
    commits.done(consumer, {(TOPIC, 0): 4})
    await commits.commit()
    consumer.failing = None
    await commits.close()
    assert consumer.commits == [], "the partition's new owner reads from the offset it was given"


async def test_a_consumer_started_anew_commits_only_its_own_offsets() -> None:
    old, new, commits = Consumer(), Consumer(), Commits(every_s=60)
    commits.done(old, {(TOPIC, 0): 4})
    commits.done(new, {(TOPIC, 0): 2})  # the subscriber restarted: the group gave it the partition at 0
    await commits.close()
    assert (old.commits, new.commits) == ([], [{PARTITION: 2}])
