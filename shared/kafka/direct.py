"""Handing events straight to the broker's aiokafka producer, as FastStream's `publish` would send them.

FastStream's `publish` costs more per event than a batch writer's own work
(a command object, middlewares, its codec), and aiokafka's default
partitioner hashes every key with a slow pure-Python murmur2. A writer that
sends thousands of events at once (routing's batch, the outbox relay) sends
them here: the body encoded as FastStream encodes a dict (orjson, compact),
the headers FastStream adds plus ours, the partition the default
partitioner would choose (the same murmur2, compiled: murmurhash2), so one
person's events stay in one partition whoever produces them.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import InvalidTimestampError, OutOfOrderSequenceNumber
from faststream.kafka import KafkaBroker
from murmurhash2 import murmurhash2

log = structlog.get_logger(__name__)

KAFKA_SEED = 0x9747B28C  # the seed of Kafka's murmur2 (Java's `Utils.murmur2`)


def aiokafka_producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The started aiokafka producer behind the broker, None under the test broker or before start.

    FastStream 0.7 keeps it at `config.producer._producer.producer` (not public API):
    a FastStream upgrade that moves it only sends events the slower way, through `publish`
    (as does a test's stand-in broker, which has no `config`).
    """
    config = getattr(broker, "config", None)
    state = getattr(getattr(config, "producer", None), "_producer", None)
    producer = getattr(state, "producer", None)
    return producer if isinstance(producer, AIOKafkaProducer) else None


def producer_problem(broker: KafkaBroker) -> str | None:
    """Why the broker's aiokafka producer no longer publishes all it is given, in words for /readyz; None
    while it does, or when there is no started producer to ask. Two ways it stops for good, until the
    service restarts and builds another:

    - its sender task ended. aiokafka sends every batch from one background task; when that task ends (an
      error it did not expect) the producer stays open and each `send` raises a copy of that error at once,
      a bare KafkaError mostly. Read from its private `_sender.sender_task`, as aiokafka 0.14 holds it; a
      layout that moves answers None.
    - a partition's sequence broke. The producer is idempotent, and aiokafka 0.14 counts the sequence
      numbers of a batch the broker refused (too large for the topic, say) as used: the broker then answers
      OutOfOrderSequenceNumber to every later batch of that partition. Seen by the senders that await their
      sends' outcomes (`DirectSender.failed`), remembered per producer. When the refusal was of the
      messages' timestamps, which the producer takes from this host's clock, the clock is named instead:
      a restart alone will not help.
    """
    producer = aiokafka_producer(broker)
    if producer is None or getattr(producer, "_closed", True):
        return None
    task = getattr(getattr(producer, "_sender", None), "sender_task", None)
    if isinstance(task, asyncio.Task) and task.done():
        error = None if task.cancelled() else task.exception()
        stopped = type(error).__name__ if error is not None else "cancelled"
        return f"Kafka producer's sender task stopped ({stopped}): nothing is published; restart the service"
    return _REFUSED.get(producer)


# the messages carry this host's time (the producer stamps them), and Kafka 4 takes none over an hour ahead of
# its own clock by default (message.timestamp.after.max.ms; before.max.ms bounds those behind)
_CLOCK = (
    "this host's clock is off from the brokers' by more than the topic takes (an hour ahead, by Kafka 4's "
    "default); set it right"
)


# producer -> what the broker refuses of it for good, in /readyz's words; weak, so a producer closed and dropped
# takes its entry with it
_REFUSED: weakref.WeakKeyDictionary[AIOKafkaProducer, str] = weakref.WeakKeyDictionary()


def partition_of(key: bytes, partitions: list[int]) -> int:
    """Where aiokafka's default partitioner puts `key` among the topic's (sorted) partitions."""
    return partitions[_key_hash(key) % len(partitions)]


def _key_hash(key: bytes) -> int:
    """Java's `Utils.toPositive(Utils.murmur2(key))`, as aiokafka's DefaultPartitioner computes it (tested)."""
    return murmurhash2(key, KAFKA_SEED) & 0x7FFFFFFF


def json_headers(envelope: dict[str, Any]) -> list[tuple[str, bytes]]:
    """The headers FastStream's publish writes for a JSON body and a correlation id, plus ours."""
    return [
        ("content-type", b"application/json"),
        ("correlation_id", str(envelope["correlation_id"]).encode()),
        ("event_type", str(envelope["type"]).encode()),
        ("event_id", str(envelope["event_id"]).encode()),
    ]


class DirectSender:
    """One batch's sends: straight to the broker's aiokafka producer (the partitions of each topic
    looked up once), or through `publish` with the same key and headers under the test broker."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker
        self._producer = aiokafka_producer(broker)
        self._partitions: dict[str, list[int]] = {}

    async def send(self, topic: str, key: bytes, envelope: dict[str, Any], body: bytes) -> Any:
        """The send's future; under the test broker, what its `publish` answered (delivered already)."""
        if self._producer is None:
            return await self._broker.publish(
                envelope,
                topic,
                key=key,
                headers={"event_type": str(envelope["type"]), "event_id": str(envelope["event_id"])},
                correlation_id=str(envelope["correlation_id"]),
                no_confirm=True,
            )
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = self._partitions[topic] = sorted(await self._producer.partitions_for(topic))
        partition = partition_of(key, partitions)
        return await self._producer.send(topic, body, key=key, partition=partition, headers=json_headers(envelope))

    def failed(self, topic: str, key: bytes, error: BaseException) -> None:
        """A send's outcome was `error`. If the broker refused its partition's sequence, or its timestamp (this
        host's clock), the producer publishes nothing more to that partition: `producer_problem` then reports
        it, and this logs it once."""
        producer = self._producer
        clock = isinstance(error, InvalidTimestampError)
        if producer is None or not (clock or isinstance(error, OutOfOrderSequenceNumber)):
            return
        known = _REFUSED.get(producer)
        if known is not None and (not clock or _CLOCK in known):  # said already (a clock's refusal says most)
            return
        partition = partition_of(key, self._partitions.get(topic) or [0])
        where = f"{topic} partition {partition}"
        if clock:  # the cause: its refusal broke the sequence too, and what follows is out of sequence
            _REFUSED[producer] = (
                f"Kafka refuses the timestamps of the producer's messages for {where} (InvalidTimestamp): {_CLOCK}, "
                "then restart the service"
            )
            log.error(
                "Kafka refuses the producer's timestamps: set this host's clock right", topic=topic, partition=partition
            )
        else:
            _REFUSED[producer] = (
                f"Kafka refuses the producer's batches for {where} (OutOfOrderSequenceNumber, after it refused a "
                "batch): nothing more is published there; restart the service"
            )
            log.error("Kafka refuses the producer's sequence: restart the service", topic=topic, partition=partition)
