"""Handing events straight to the broker's aiokafka producer, as FastStream's `publish` would send them.

FastStream's `publish` costs more per event than a batch writer's own work
(a command object, middlewares, its codec), and aiokafka's default
partitioner hashes every key with a slow pure-Python murmur2. A writer that
sends thousands of events at once (routing's batch, the outbox relay) sends
them here: the body encoded as FastStream encodes a dict (orjson, compact),
the headers FastStream adds plus ours, the partition the default
partitioner would choose (the same murmur2, compiled: murmurhash2), so one
person's events stay in one partition whoever produces them. Once the partition
is known, the message goes to its partition's batch as aiokafka's `send` would
put it there, without `send`'s checks of what is known already: about 2 µs of
its 8-10 a message (docs/performance.md, round 59).

A refused batch is noted where /readyz reads it (shared/kafka/refusals.py),
and the producer takes a new id by the rules of shared/kafka/renewal.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from time import monotonic
from typing import Any

import structlog
from aiokafka.errors import InvalidTimestampError, OutOfOrderSequenceNumber
from aiokafka.structs import TopicPartition
from faststream.kafka import KafkaBroker
from murmurhash2 import murmurhash2

from shared.kafka.broker import aiokafka_producer
from shared.kafka.refusals import REFUSED, Refusals, partition_named
from shared.kafka.renewal import Renewal, Settling, may_renew, renew, settling_of
from shared.kafka.sequence import breaks_the_sequence, can_renew

log = structlog.get_logger(__name__)

KAFKA_SEED = 0x9747B28C  # the seed of Kafka's murmur2 (Java's `Utils.murmur2`)


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

    def __init__(self, broker: KafkaBroker, *, renewal: Renewal = Renewal.AT_ONCE) -> None:
        """`renewal`: when a batch the broker refuses gives the producer a new id (`failed`). At once for a sender
        that keeps one send of a key in flight (the outbox relay); when the sends before have settled for one that
        keeps several (routing's emitter: `Settling`)."""
        self._broker = broker
        self._producer = aiokafka_producer(broker)
        # the batches aiokafka 0.14's `send` ends in (`_enqueue`); None where a producer lacks them or its size check
        accumulator = getattr(self._producer, "_message_accumulator", None)
        self._accumulator = accumulator if hasattr(self._producer, "_serialize") else None
        self._partitions: dict[str, list[int]] = {}
        self._renewal = renewal
        self._renewed = False  # the producer id renewed since the last send: once is enough for the sends before

    @property
    def settling(self) -> Settling:
        """The producer's `Settling`, for a writer that renews when settled; one that never renews without it."""
        return settling_of(self._producer)

    @property
    def renews_sequences(self) -> bool:
        """Whether a batch the broker refuses leaves the sends after it a whole sequence: the producer's id is
        renewed (`shared.kafka.sequence`), or there is no aiokafka producer (the test broker's) to break."""
        return self._producer is None or can_renew(self._producer)

    def partition(self, topic: str, key: bytes) -> int:
        """The partition a send of `key` to `topic` went to; 0 under the test broker, which has none."""
        return partition_of(key, self._partitions.get(topic) or [0])

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
        self._renewed = False
        return await self._enqueue(topic, partition, key, body, json_headers(envelope))

    def _enqueue(
        self, topic: str, partition: int, key: bytes, body: bytes, headers: list[tuple[str, bytes]]
    ) -> Awaitable[Any]:
        """What aiokafka's `send` does once the partition is known: its own size check (`_serialize`, which raises
        MessageSizeTooLargeError over `max_request_size`), then the message added to its partition's batch. `send`
        also waits for the topic's metadata, which `partitions_for` has done, and checks the partition against it
        and that no transaction is wanted (none is: the producer has no transactional id). Through `send` where the
        producer lacks the parts (another aiokafka). Not a coroutine itself: one frame less a message."""
        producer, accumulator = self._producer, self._accumulator
        assert producer is not None
        if accumulator is None:
            return producer.send(topic, body, key=key, partition=partition, headers=headers)  # type: ignore[no-any-return]
        producer._serialize(key, body, headers)
        return accumulator.add_message(  # type: ignore[no-any-return]
            TopicPartition(topic, partition), key, body, producer._request_timeout_ms / 1000, headers=headers
        )

    def taken(self, runs: Iterable[tuple[float, Iterable[tuple[str, bytes]]]]) -> None:
        """Runs of sends (topic, key) the broker took, each with the `monotonic()` it was made at. One made after
        a refused batch's note, to the partition the note names, means Kafka takes that partition's batches again,
        whether or not a new id came between (an id whose first batch there was refused has no sequence there to
        break): the note is let go, and /readyz says nothing more of it. One made before the note says nothing of
        the partition since: a long unit of work's early run, taken before another unit's batch was refused."""
        producer = self._producer
        refused = REFUSED.get(producer) if producer is not None else None
        if refused is None or not refused.batch_seen_at:
            return
        for made_at, sends in runs:
            if made_at < refused.batch_seen_at:
                continue
            for topic, key in sends:
                if partition_named(topic, self.partition(topic, key)) == refused.batch_where:
                    refused.batch_seen_at = 0.0
                    return

    def failed(self, topic: str, key: bytes, error: BaseException, *, generation: int | None = None) -> None:
        """A send's outcome was `error`. A batch the broker refused used up its sequence numbers: the producer
        gets a new id, its sequence whole again, once for the sends made before (`shared.kafka.sequence`), at once
        or when they have settled (`renewal`). Where it cannot, a sequence refused is kept for `producer_problem`
        and logged once; a timestamp refused is kept and logged alike.

        `generation`: the `Settling.generation` the send left on, for a writer that renews when settled. A send
        on an id since replaced asks for no new id and says nothing at /readyz: its refusal was the old id's,
        which the new one mended (a second consumer's unit of work, confirming after the other's renewal)."""
        producer = self._producer
        if producer is None:
            return
        partition = self.partition(topic, key)
        where, settled = partition_named(topic, partition), self._renewal is Renewal.WHEN_SETTLED
        if settled and generation is not None and generation != settling_of(producer).generation:
            return
        renewable = breaks_the_sequence(error) and can_renew(producer)
        if settled and renewable and not isinstance(error, OutOfOrderSequenceNumber | InvalidTimestampError):
            # its unit of work comes again with the same events: refused until the cause is mended, said meanwhile
            refused = REFUSED.setdefault(producer, Refusals(where))
            refused.batch_where, refused.batch_seen_at, refused.batch_error = where, monotonic(), type(error).__name__
        if renewable and not self._renewed and may_renew(producer, error, backs_off=settled):
            if settled:
                settling_of(producer).want(topic, partition, type(error).__name__)
            else:
                self._renewed = renew(producer, topic, partition, type(error).__name__)
        if isinstance(error, InvalidTimestampError):
            refused = REFUSED.setdefault(producer, Refusals(where))
            if not refused.clock_seen_at:
                log.error("Kafka refuses the producer's timestamps: set this host's clock right", topic=topic)
            refused.clock_seen_at = monotonic()
        elif isinstance(error, OutOfOrderSequenceNumber) and not self.renews_sequences:
            refused = REFUSED.setdefault(producer, Refusals(where))
            if not refused.sequence_broken:
                refused.sequence_broken, refused.where = True, where
                log.error(
                    "Kafka refuses the producer's sequence: restart the service", topic=topic, partition=partition
                )
