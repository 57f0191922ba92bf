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
from typing import Any

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from murmurhash2 import murmurhash2

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


def sender_stopped(broker: KafkaBroker) -> str | None:
    """Why the broker's aiokafka producer no longer sends (its sender task ended: the kind of error that ended
    it), None while it sends, or when there is no started producer to ask.

    aiokafka sends every batch from one background task. When that task ends (an error it did not expect, a
    fenced producer, a sequence number the broker refused), the producer stays open and each `send` raises a
    copy of that error at once, a bare KafkaError mostly, until the producer is rebuilt. Read from its private
    `_sender.sender_task`, as aiokafka 0.14 holds it; a layout that moves answers None.
    """
    producer = aiokafka_producer(broker)
    if producer is None or getattr(producer, "_closed", True):
        return None
    task = getattr(getattr(producer, "_sender", None), "sender_task", None)
    if not isinstance(task, asyncio.Task) or not task.done():
        return None
    error = None if task.cancelled() else task.exception()
    return type(error).__name__ if error is not None else "cancelled"


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
