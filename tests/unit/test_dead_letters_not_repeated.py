"""A subscriber's batch that fails part way is read again from its first message not done (in memory).

A batch whose dead letter Kafka refused (or whose handler failed later, the
database away) was read again from its start: every dead letter Kafka had
taken from that batch before the failure was published again, a repeat on
the dead-letter topic (`popflow dead-letters show` folded them into "set
aside N times"). The consumer now seeks each partition to its first message
not done, and commits it there. A scripted partition stands in for Kafka
here: it hands the consumer what lies from its position, as a poll does,
and FastStream's own subscriber (its acknowledgement included) consumes it.
The same on a real broker: tests/integration/test_dead_letters_not_repeated.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from aiokafka import ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker, TestKafkaBroker

from shared.events import Envelope, Event
from shared.kafka.consuming import subscribe, subscribe_batch
from shared.kafka.failures import DeadLetters, PermanentFailure
from shared.topics import RECORDS_SUBMITTED, TopicNames
from tests.support import kafka
from tests.support.infra import TEST_KEYRING
from tests.support.records import record

TOPICS = TopicNames("t.")
TOPIC = TOPICS(RECORDS_SUBMITTED)
PARTITION = TopicPartition(TOPIC, 0)


def records(*names: str) -> list[ConsumerRecord[Any, Any]]:
    """One partition's messages, in order: an event whose correlation id is its name, or junk for `junk`."""
    return [
        ConsumerRecord(
            topic=TOPIC,
            partition=0,
            offset=offset,
            timestamp=0,
            timestamp_type=0,
            key=None,
            value=b"junk" if name.startswith("junk") else event(name, offset),
            checksum=None,
            serialized_key_size=0,
            serialized_value_size=0,
            headers=[],
        )
        for offset, name in enumerate(names)
    ]


def event(name: str, offset: int) -> bytes:
    return kafka.submitted(record(sequence=offset + 1), record_id=name).model_dump_json().encode()


@dataclass
class Partition:
    """Kafka's side of one partition: a poll hands over what lies from the consumer's position."""

    log: list[ConsumerRecord[Any, Any]]
    position: int = 0
    committed: int | None = None

    def poll(self) -> tuple[ConsumerRecord[Any, Any], ...]:
        batch = tuple(self.log[self.position :])
        self.position = len(self.log)
        return batch

    def assignment(self) -> set[TopicPartition]:
        return {PARTITION}

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.position = offset

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        self.committed = offsets[PARTITION] if offsets else self.position


@dataclass
class DeadLetterTopic:
    """Refuses the dead letter of the message at offset `refused` its first `times` tries, takes the rest."""

    refused: int
    times: int
    taken: list[int] = field(default_factory=list)  # the source offsets of the dead letters taken

    async def publish(self, body: bytes, headers: dict[str, str]) -> None:
        offset = int(headers["source_offset"])
        if offset == self.refused and self.times:
            self.times -= 1
            raise ConnectionError("the dead-letter topic refuses")
        self.taken.append(offset)

    def sink(self) -> DeadLetters:
        return DeadLetters(self.publish, retry_pause_s=0)


def subscribed(topic: DeadLetterTopic, handler: Any, *, batch: bool) -> KafkaBroker:
    """A broker whose one subscriber (of records, a message or a batch at a time) sets aside into `topic`."""
    broker = KafkaBroker()
    (subscribe_batch if batch else subscribe)(
        broker,
        TOPICS,
        topic=RECORDS_SUBMITTED,
        group="g",
        handler=handler,
        keyring=TEST_KEYRING,
        dead_letters=topic.sink(),
    )
    return broker


async def consume_to_the_end(broker: KafkaBroker, partition: Partition) -> None:
    """FastStream's subscriber consumes the partition, a poll at a time, until nothing is left to read; then it
    stops, committing what it has done (shared.kafka.commits)."""
    (subscriber,) = broker.subscribers
    async with TestKafkaBroker(broker):
        cast(Any, subscriber).parser._setup(partition)  # the consumer its messages seek and commit
        while batch := partition.poll():
            await cast(Any, subscriber).consume(batch)
        await subscriber.stop()


async def test_a_subscriber_reads_again_from_the_refused_dead_letter_not_from_its_batchs_start() -> None:
    handled: list[str] = []

    async def handler(envelope: Envelope, _: Event) -> None:
        if envelope.correlation_id.startswith("bad"):
            raise PermanentFailure("can never be handled")
        handled.append(envelope.correlation_id)

    topic = DeadLetterTopic(refused=2, times=2)
    broker = subscribed(topic, handler, batch=False)
    partition = Partition(records("bad0", "good1", "bad2", "good3"))
    await consume_to_the_end(broker, partition)

    assert topic.taken == [0, 2]  # each dead letter once: the one taken before the refusals is not sent again
    assert handled == ["good1", "good3"]  # nothing skipped, nothing done twice
    assert partition.committed == 4


async def test_a_batch_subscriber_reads_again_from_the_refused_dead_letter_not_from_its_batchs_start() -> None:
    handled: list[list[str]] = []

    async def handler(events: list[tuple[Envelope, Event]]) -> None:
        if any(envelope.correlation_id.startswith("bad") for envelope, _ in events):
            raise PermanentFailure("can never be handled")
        handled.append([envelope.correlation_id for envelope, _ in events])

    topic = DeadLetterTopic(refused=4, times=1)
    broker = subscribed(topic, handler, batch=True)
    partition = Partition(records("good0", "junk1", "bad2", "good3", "junk4"))
    await consume_to_the_end(broker, partition)

    assert topic.taken == [1, 2, 4]  # the junk and the refused event, each once
    assert handled == [["good0"], ["good3"], []]  # one at a time, then the batch read again from the junk at 4
    assert partition.committed == 5


async def test_an_undecodable_message_is_set_aside_once_when_the_handler_fails_and_its_batch_comes_again() -> None:
    # the undecodable were set aside before the handler ran: a handler that failed (the database away) had its
    # batch read again, and the junk set aside again
    handled: list[list[str]] = []
    failures = [ConnectionError("the database is away")]

    async def handler(events: list[tuple[Envelope, Event]]) -> None:
        if failures:
            raise failures.pop()
        handled.append([envelope.correlation_id for envelope, _ in events])

    topic = DeadLetterTopic(refused=-1, times=0)
    broker = subscribed(topic, handler, batch=True)
    partition = Partition(records("junk0", "good1"))
    await consume_to_the_end(broker, partition)

    assert topic.taken == [0]
    assert handled == [["good1"]]
    assert partition.committed == 2
