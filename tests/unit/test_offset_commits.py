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
from faststream.kafka import TestKafkaBroker
from structlog.testing import capture_logs

from shared.events import Envelope, Event
from shared.kafka import commits as commits_module
from shared.kafka import consuming
from shared.kafka.commits import Commits
from shared.kafka.failures import PermanentFailure
from tests.unit.test_dead_letters_not_repeated import PARTITION, TOPIC, DeadLetterTopic, records, subscribed

OTHER = TopicPartition(TOPIC, 1)


class Consumer:
    """An aiokafka consumer's assignment and commits; its commits fail with `failing` while that is set."""

    def __init__(self, *assigned: TopicPartition) -> None:
        self.assigned = set(assigned) or {PARTITION}
        self.commits: list[dict[TopicPartition, int] | None] = []  # None: every position (an acknowledgement)
        self.failing: Exception | None = None
        self.held: asyncio.Event | None = None  # while set, a commit waits for it (Kafka away: aiokafka retries)
        self.asked = 0

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def seek(self, partition: TopicPartition, offset: int) -> None:
        return None

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        self.asked += 1
        if self.held is not None:
            await self.held.wait()
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

    broker, consumer = subscribed(DeadLetterTopic(refused=-1, times=0), handler, batch=False), Consumer()
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


async def test_a_batch_that_set_a_message_aside_is_committed_at_once() -> None:
    # a crash before a later commit would set it aside again: a repeat on the dead-letter topic
    async def handler(events: list[tuple[Envelope, Event]]) -> None:
        if any(envelope.correlation_id == "refused" for envelope, _ in events):
            raise PermanentFailure("can never be handled")

    topic = DeadLetterTopic(refused=-1, times=0)  # takes every dead letter
    broker = subscribed(topic, handler, batch=True)
    (subscriber,) = cast(list[Any], broker.subscribers)
    consumer, (good, refused, later) = Consumer(), records("good", "refused", "later")
    async with TestKafkaBroker(broker):
        subscriber.parser._setup(consumer)
        await subscriber.consume((good,))
        assert consumer.commits == [], "a batch without a dead letter waits for the next commit"
        await subscriber.consume((refused,))
        assert topic.taken == [1]
        assert consumer.commits == [{PARTITION: 2}], "at once, with the batch before"
        await subscriber.consume((later,))
        assert consumer.commits == [{PARTITION: 2}]
        await subscriber.stop()
    assert consumer.commits == [{PARTITION: 2}, {PARTITION: 3}]


async def test_a_stop_does_not_wait_for_a_commit_kafka_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    # aiokafka waits for a Kafka that is away until its consumer stops, and the consumer stops after the commit
    monkeypatch.setattr(consuming, "STOP_COMMIT_S", 0.2)
    consumer, commits, stopped = Consumer(), Commits(every_s=60), list[bool]()
    consumer.held = asyncio.Event()  # never set
    commits.done(consumer, {(TOPIC, 0): 4})

    class Subscriber:
        async def stop(self) -> None:  # FastStream's: its tasks cancelled, its consumer closed
            stopped.append(True)

    subscriber = Subscriber()
    consuming.commit_before_stop(subscriber, commits)
    with capture_logs() as logs:
        await asyncio.wait_for(subscriber.stop(), timeout=5)
    assert consumer.asked == 1, "the commit was tried"
    assert stopped == [True], "and the subscriber stopped all the same"
    assert [line["event"] for line in logs] == ["offsets not committed at stop"]


async def test_batches_done_while_a_commit_waits_for_kafka_go_with_the_next_one() -> None:
    consumer, commits = Consumer(), Commits(every_s=0.01)
    consumer.held = asyncio.Event()
    commits.done(consumer, {(TOPIC, 0): 1})
    await asyncio.sleep(0.1)
    tasks = len(asyncio.all_tasks())  # the commit under way among them
    for offset in (2, 3, 4):  # Kafka away: one commit waits, none queues behind it
        commits.done(consumer, {(TOPIC, 0): offset})
        await asyncio.sleep(0.05)
    assert consumer.asked == 1
    assert len(asyncio.all_tasks()) == tasks, "no task a batch, each waiting for the one before"
    consumer.held.set()  # Kafka back
    await asyncio.sleep(0.2)
    assert consumer.commits == [{PARTITION: 1}, {PARTITION: 4}]


async def test_a_commit_cancelled_from_outside_does_not_stop_later_ones() -> None:
    consumer, commits = Consumer(), Commits(every_s=0.05)
    commits.done(consumer, {(TOPIC, 0): 1})
    waiting = commits._later
    assert waiting is not None
    waiting.cancel()  # the loop's tasks cancelled, say
    await asyncio.sleep(0.1)
    commits.done(consumer, {(TOPIC, 0): 2})
    await asyncio.sleep(0.2)
    assert consumer.commits == [{PARTITION: 2}]


async def test_nothing_is_committed_after_the_stop() -> None:
    consumer, commits = Consumer(), Commits(every_s=0.05)
    commits.done(consumer, {(TOPIC, 0): 1})
    await commits.close()
    commits.done(consumer, {(TOPIC, 0): 2})  # a batch that ended during the stop: its consumer closes next
    await asyncio.sleep(0.2)
    assert consumer.commits == [{PARTITION: 1}]


async def test_the_in_memory_broker_leaves_no_commit_waiting() -> None:
    # its stand-in consumer has nothing to commit: a commit left waiting outlived the test, in the loop the
    # next test shares (tests/unit/test_routing_on_sqlite.py counts the loop's tasks)
    async def handler(events: list[tuple[Envelope, Event]]) -> None:
        return None

    broker = subscribed(DeadLetterTopic(refused=-1, times=0), handler, batch=True)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(records("a")[0].value, topic=TOPIC)
    waiting = [t for t in asyncio.all_tasks() if "Commits" in repr(t.get_coro())]
    assert waiting == []
