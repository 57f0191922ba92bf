"""Handing events straight to the broker's aiokafka producer, as FastStream's `publish` would send them.

FastStream's `publish` costs more per event than a batch writer's own work
(a command object, middlewares, its codec), and aiokafka's default
partitioner hashes every key with a slow pure-Python murmur2. A writer that
sends thousands of events at once (routing's batch, the outbox relay) sends
them here: the body encoded as FastStream encodes a dict (orjson, compact),
the headers FastStream adds plus ours, the partition the default
partitioner would choose (the same murmur2, compiled: murmurhash2), so one
person's events stay in one partition whoever produces them.

A writer that needs no answer per event (routing's batch) hands a whole run over
at once (`send_all`): the events go straight into aiokafka's record batches, one
open batch per partition, each queued when full and the rest at the end. That
skips what `AIOKafkaProducer.send` does for every message (its checks, the
partitioner's validation, a future per message and its result on the
acknowledgement): a third of a routed record's hand-over (docs/performance.md,
round 30). A failure then fails the whole record batch, so the relay, which sets
rows aside one by one, keeps `send`.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, ProducerClosed
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import TopicPartition
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
        partition = partition_of(key, await self._partitions_of(self._producer, topic))
        return await self._producer.send(topic, body, key=key, partition=partition, headers=json_headers(envelope))

    async def send_all(self, messages: Sequence[tuple[str, bytes, dict[str, Any], bytes]]) -> list[Any]:
        """Hand `messages` (topic, key, envelope, body) over in their order, as few record batches
        a partition as they fit in; returns one future per record batch (raising if the batch failed),
        or under the test broker what its `publish` answered for each message.

        Each partition's messages keep their order: one batch is open a partition, and a batch is
        queued behind those queued before it (by this call, an earlier one or `send`)."""
        producer = self._producer
        if producer is None:
            return [await self.send(*message) for message in messages]
        largest = producer._max_request_size  # send's own bound, checked as send checks it
        placed = []
        for topic, key, envelope, body in messages:  # every check first: an event refused sends nothing
            headers = json_headers(envelope)
            if DefaultRecordBatchBuilder.estimate_size_in_bytes(key, body, headers) > largest:
                raise MessageSizeTooLargeError(f"an event of {len(body)} bytes is larger than max_request_size")
            partitions = self._partitions.get(topic) or await self._partitions_of(producer, topic)
            placed.append((TopicPartition(topic, partition_of(key, partitions)), key, body, headers))
        filling: dict[TopicPartition, BatchBuilder] = {}
        queued: list[asyncio.Future[Any]] = []
        try:
            for where, key, body, headers in placed:
                batch = filling.get(where)
                if batch is None:
                    batch = filling[where] = producer.create_batch()
                if batch.append(timestamp=None, key=key, value=body, headers=headers) is None:  # full: it goes
                    queued.append(_queue(producer, batch, where))
                    batch = filling[where] = producer.create_batch()
                    batch.append(timestamp=None, key=key, value=body, headers=headers)  # an empty one takes any
            queued += [_queue(producer, batch, where) for where, batch in filling.items()]
        except BaseException:  # the producer closed or failed meanwhile: what left is the caller's error's to report
            for future in queued:
                future.add_done_callback(retrieved)
            raise
        return queued

    async def _partitions_of(self, producer: AIOKafkaProducer, topic: str) -> list[int]:
        """The topic's partitions, looked up once (and its metadata waited for, as `send` waits)."""
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = self._partitions[topic] = sorted(await producer.partitions_for(topic))
        return partitions


def retrieved(future: asyncio.Future[Any]) -> None:
    """A done-callback for a send nobody will await: its failure is not logged as "never retrieved"."""
    if not future.cancelled():
        future.exception()


def _queue(producer: AIOKafkaProducer, batch: BatchBuilder, where: TopicPartition) -> asyncio.Future[Any]:
    """Queue a filled batch for the sender, behind the partition's batches queued before it.

    `send_batch` would first wait until the partition's last batch has left, a broker's
    round trip in the middle of a run. The accumulator's queue of a partition holds any
    number (a retried batch goes back to its head); the sender takes them one a request, in order."""
    accumulator = producer._message_accumulator  # aiokafka 0.14's, as send_batch uses it
    if accumulator._closed:  # the checks send_batch makes first
        raise ProducerClosed()
    if accumulator._exception is not None:
        raise copy.copy(accumulator._exception)
    batch.close()
    return asyncio.shield(accumulator._append_batch(batch, where).future)
