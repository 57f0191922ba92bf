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
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from time import monotonic
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    InvalidRequiredAcksError,
    InvalidTimestampError,
    InvalidTopicError,
    OutOfOrderSequenceNumber,
    TopicAuthorizationFailedError,
    UnsupportedForMessageFormatError,
    UnsupportedVersionError,
)
from faststream.kafka import KafkaBroker
from murmurhash2 import murmurhash2

from shared.kafka.sequence import breaks_the_sequence, can_renew, renew_producer_id

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
    """Why the broker's aiokafka producer does not publish what it is given, in words for /readyz; None while
    it does, or when there is no started producer to ask.

    - Its sender task ended. aiokafka sends every batch from one background task; when that task ends (an
      error it did not expect) the producer stays open and each `send` raises a copy of that error at once,
      a bare KafkaError mostly, until the service restarts. Read from its private `_sender.sender_task`, as
      aiokafka 0.14 holds it; a layout that moves answers None.
    - A partition's sequence broke, and the producer's id could not be renewed. The producer is idempotent,
      and aiokafka 0.14 counts the sequence numbers of a batch the broker refused (too large for the topic,
      say) as used: the broker then answers OutOfOrderSequenceNumber to every later batch of that partition.
      `DirectSender.failed` gives the producer a new id at the refusal (`shared.kafka.sequence`), which makes
      the sequence whole; where aiokafka's layout is not the one it knows, the partition stays refused until
      the service restarts, and this says so.
    - The broker refuses the batches of a writer that sends the same events again until they are taken (routing's
      emitter, `Renewal.WHEN_SETTLED`): a topic that takes smaller messages than they are, a grant missing. Said
      while it goes on (`CLOCK_SAID_S` after the last refusal), until the producer takes its new id or the
      partition takes a send again (`DirectSender.taken`).
    - The broker refuses the messages' timestamps, which the producer takes from this host's clock. Said
      while it goes on (`CLOCK_SAID_S` after the last refusal): once the clock is right, the partitions
      publish again, on the producer's new id (where none could be taken, a partition that knew the
      producer's sequence is out of sequence: above, with the clock named as its cause).

    The last three are seen by the senders that await their sends' outcomes (`DirectSender.failed`).
    """
    producer = aiokafka_producer(broker)
    if producer is None or getattr(producer, "_closed", True):
        return None
    task = getattr(getattr(producer, "_sender", None), "sender_task", None)
    if isinstance(task, asyncio.Task) and task.done():
        error = None if task.cancelled() else task.exception()
        stopped = type(error).__name__ if error is not None else "cancelled"
        return f"Kafka producer's sender task stopped ({stopped}): nothing is published; restart the service"
    refused = _REFUSED.get(producer)
    if refused is None:
        return None
    if refused.sequence_broken:
        refusal, then = (
            ("their timestamps", f"{_CLOCK}, then restart the service")
            if refused.clock_seen_at
            else ("a batch", "nothing more is published there; restart the service")
        )
        return (
            f"Kafka refuses the producer's batches for {refused.where} (OutOfOrderSequenceNumber, after it refused "
            f"{refusal}): {then}"
        )
    if refused.batch_seen_at and monotonic() - refused.batch_seen_at < CLOCK_SAID_S:
        return (
            f"Kafka refuses the producer's batches for {refused.batch_where} ({refused.batch_error}): nothing more is "
            "published there until it takes them; then the producer takes a new id by itself (within a minute)"
        )
    if refused.clock_seen_at and monotonic() - refused.clock_seen_at < CLOCK_SAID_S:
        return (
            f"Kafka refuses the timestamps of the producer's messages for {refused.where} (InvalidTimestamp): {_CLOCK}"
        )
    return None


CLOCK_SAID_S = 60.0
# the messages carry this host's time (the producer stamps them), and Kafka 4 takes none over an hour ahead of
# its own clock by default (message.timestamp.after.max.ms; before.max.ms bounds those behind, and a batch
# retried through a long outage can grow that old)
_CLOCK = (
    "this host's clock is off from the brokers' by more than the topic takes (an hour ahead, by Kafka 4's "
    "default), or the topic's message.timestamp.before.max.ms is shorter than a batch waited; set it right"
)


@dataclass(slots=True)
class _Refusals:
    """What the broker refused of one producer: where first, whether a sequence broke, when timestamps last."""

    where: str
    sequence_broken: bool = False
    clock_seen_at: float = 0.0  # monotonic() of the last timestamp refused; 0 for none
    batch_seen_at: float = 0.0  # of the last batch refused of a writer that renews when settled, till it renews
    batch_where: str = ""  # and where, and the broker's answer
    batch_error: str = ""


# producer -> what the broker refused of it; weak, so a producer closed and dropped takes its entry with it
_REFUSED: weakref.WeakKeyDictionary[AIOKafkaProducer, _Refusals] = weakref.WeakKeyDictionary()

# A refusal that goes on, the deployment's (a topic whose grant is missing, a clock that stays off), comes back at
# every relay pass, about once a second: a new producer id each time would leave the broker holding thousands a day
# (each for producer.id.expiration.ms, a day by default). Those renew at most once a minute. Any other refusal
# renews at once: one of a row's (its size) ends with the row set aside, one the broker does not explain with the
# row set aside after its strikes, and a sequence the broker calls broken is what a new id mends.
RENEW_EVERY_S = 60.0
_LASTING = (
    TopicAuthorizationFailedError,
    ClusterAuthorizationFailedError,
    InvalidTimestampError,
    UnsupportedVersionError,
    # the producer's or the topic's settings, refused for every batch until they are changed (NOT_THE_ROW,
    # shared/db/outbox_failures.py)
    InvalidRequiredAcksError,
    InvalidTopicError,
    UnsupportedForMessageFormatError,
)
_RENEWED_AT: weakref.WeakKeyDictionary[AIOKafkaProducer, float] = weakref.WeakKeyDictionary()


def _may_renew(producer: AIOKafkaProducer, error: BaseException, *, backs_off: bool = False) -> bool:
    """`backs_off`: for a writer whose every refusal may go on (it sends the same events again until they are
    taken): the gaps between its new ids grow from a second to a minute (`_GAPS`) while refusals go on."""
    last = _RENEWED_AT.get(producer)
    if last is None:
        return True
    if backs_off:
        return monotonic() - last >= _GAPS.get(producer, 0.0)
    return not isinstance(error, _LASTING) or monotonic() - last >= RENEW_EVERY_S


FIRST_GAP_S = 1.0
# producer -> how long after its last new id the next may be taken, for a writer that backs off: doubled at each
# renewal that follows the last within a minute and the gap it kept, up to RENEW_EVERY_S; back to a second after
# that long without one (a minute and the gap: two at most)
_GAPS: weakref.WeakKeyDictionary[AIOKafkaProducer, float] = weakref.WeakKeyDictionary()


def _next_gap(producer: AIOKafkaProducer, now: float) -> float:
    last, gap = _RENEWED_AT.get(producer), _GAPS.get(producer, 0.0)
    if last is None or now - last >= RENEW_EVERY_S + gap:
        return FIRST_GAP_S
    return min(max(gap * 2, FIRST_GAP_S), RENEW_EVERY_S)


def _where(topic: str, partition: int) -> str:
    """A partition as /readyz and the refusals name it."""
    return f"{topic} partition {partition}"


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


class Renewal(Enum):
    """When a producer whose batch the broker refused takes its new id (`DirectSender.failed`)."""

    AT_ONCE = "at once"  # the outbox relay: one send of a key in flight, so nothing of a key is left on the old id
    WHEN_SETTLED = "when settled"  # routing's emitter: several of a key in flight (`Settling`)


def _renew(producer: AIOKafkaProducer, topic: str, partition: int, error: str) -> bool:
    """`renew_producer_id`, noted and logged."""
    if not renew_producer_id(producer):
        return False
    now = monotonic()
    _GAPS[producer] = _next_gap(producer, now)
    _RENEWED_AT[producer] = now
    log.warning("Kafka refused a batch: the producer takes a new id", topic=topic, partition=partition, error=error)
    if refused := _REFUSED.get(producer):
        refused.sequence_broken, refused.batch_seen_at = False, 0.0
    if settling := _SETTLING.get(producer):  # taken at once or when settled, the sends before were on the old id
        settling.generation += 1
    return True


class Writer(Protocol):
    """A writer whose sends `Settling` waits for: those it made and has not confirmed."""

    def unsettled(self) -> Iterable[Any]: ...


SETTLE_SAID_EVERY_S = 30.0  # a new id that waits longer for the sends before says so in the log, this often


class Settling:
    """A producer's new id, for writers that keep a key's sends in flight over several hand-overs and confirm them
    once (routing's runs, confirmed at the end of a unit of work).

    Renewed at once, as the relay's is, a person's later event could leave on the new id while an earlier one,
    still out on the old id, is refused: the later one taken, the earlier sent again after it when its unit of work
    comes again. So a refusal only asks for the new id (`want`), and the next hand-over takes it (`settle`) once no
    send is being made and every send made on the old id has its outcome: those after the refused batch in its
    partition are refused with it, in order, and fail their units of work. A writer that sent on the old id and
    goes on after the renewal (`generation` changed) confirms what it sent first, so a unit of work whose earlier
    event was refused fails before any later one leaves: it comes again whole, as after a restart, without one.
    """

    def __init__(self, producer: AIOKafkaProducer | None) -> None:
        self._producer = weakref.ref(producer) if producer is not None else None
        self.generation = 0  # new ids taken
        self.wanted: tuple[str, int, str] | None = None  # the first refusal since the last new id: where, why
        self._sending = 0  # hand-overs in their sends
        self._quiet: asyncio.Future[None] | None = None  # set when the last of them ends, while `settle` waits
        self._writers: weakref.WeakSet[Writer] = weakref.WeakSet()
        self._left: set[asyncio.Future[Any]] = set()  # sends out whose writers gave up on them (a unit of work failed)
        self._lock = asyncio.Lock()

    def want(self, topic: str, partition: int, error: str) -> None:
        """A batch was refused: the next hand-over takes a new id, once the sends before have settled."""
        if self.wanted is None and self._producer is not None:
            self.wanted = (topic, partition, error)

    def join(self, writer: Writer) -> None:
        self._writers.add(writer)

    def left(self, send: asyncio.Future[Any]) -> None:
        """A send its writer no longer awaits: the new id waits for it all the same."""
        if not send.done():
            self._left.add(send)
            send.add_done_callback(self._left.discard)

    def sending(self) -> None:
        self._sending += 1

    def sent(self) -> None:
        self._sending -= 1
        if not self._sending and self._quiet is not None and not self._quiet.done():
            self._quiet.set_result(None)

    async def settle(self) -> None:
        """Take the new id `want` asked for, once nothing sent on the old one is still out."""
        async with self._lock:
            while self.wanted is not None:
                if self._sending:
                    self._quiet = asyncio.get_running_loop().create_future()
                    await self._quiet
                    continue
                out = [send for w in list(self._writers) for send in w.unsettled() if not send.done()]
                out += [send for send in self._left if not send.done()]
                if out:
                    _, pending = await asyncio.wait(out, timeout=SETTLE_SAID_EVERY_S)
                    if pending:  # an idempotent aiokafka producer never gives up on a send: a partition without
                        topic, partition, _ = self.wanted  # a leader holds the new id, and every hand-over, till back
                        log.warning(
                            "the producer's new id waits for sends still out on the old one",
                            sends=len(pending),
                            topic=topic,
                            partition=partition,
                            waited_s=SETTLE_SAID_EVERY_S,
                        )
                    continue
                (topic, partition, error), self.wanted = self.wanted, None
                producer = self._producer() if self._producer is not None else None
                if producer is not None:
                    _renew(producer, topic, partition, error)  # the generation with it


# producer -> its Settling; weak, as _REFUSED
_SETTLING: weakref.WeakKeyDictionary[AIOKafkaProducer, Settling] = weakref.WeakKeyDictionary()


def settling_of(producer: AIOKafkaProducer | None) -> Settling:
    """The producer's `Settling`; without a producer (the test broker's) one that never wants a new id."""
    if producer is None:
        return Settling(None)
    settling = _SETTLING.get(producer)
    if settling is None:
        settling = _SETTLING[producer] = Settling(producer)
    return settling


class DirectSender:
    """One batch's sends: straight to the broker's aiokafka producer (the partitions of each topic
    looked up once), or through `publish` with the same key and headers under the test broker."""

    def __init__(self, broker: KafkaBroker, *, renewal: Renewal = Renewal.AT_ONCE) -> None:
        """`renewal`: when a batch the broker refuses gives the producer a new id (`failed`). At once for a sender
        that keeps one send of a key in flight (the outbox relay); when the sends before have settled for one that
        keeps several (routing's emitter: `Settling`)."""
        self._broker = broker
        self._producer = aiokafka_producer(broker)
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
        return await self._producer.send(topic, body, key=key, partition=partition, headers=json_headers(envelope))

    def taken(self, runs: Iterable[tuple[float, Iterable[tuple[str, bytes]]]]) -> None:
        """Runs of sends (topic, key) the broker took, each with the `monotonic()` it was made at. One made after
        a refused batch's note, to the partition the note names, means Kafka takes that partition's batches again,
        whether or not a new id came between (an id whose first batch there was refused has no sequence there to
        break): the note is let go, and /readyz says nothing more of it. One made before the note says nothing of
        the partition since: a long unit of work's early run, taken before another unit's batch was refused."""
        producer = self._producer
        refused = _REFUSED.get(producer) if producer is not None else None
        if refused is None or not refused.batch_seen_at:
            return
        for made_at, sends in runs:
            if made_at < refused.batch_seen_at:
                continue
            for topic, key in sends:
                if _where(topic, self.partition(topic, key)) == refused.batch_where:
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
        where, settled = _where(topic, partition), self._renewal is Renewal.WHEN_SETTLED
        if settled and generation is not None and generation != settling_of(producer).generation:
            return
        renewable = breaks_the_sequence(error) and can_renew(producer)
        if settled and renewable and not isinstance(error, OutOfOrderSequenceNumber | InvalidTimestampError):
            # its unit of work comes again with the same events: refused until the cause is mended, said meanwhile
            refused = _REFUSED.setdefault(producer, _Refusals(where))
            refused.batch_where, refused.batch_seen_at, refused.batch_error = where, monotonic(), type(error).__name__
        if renewable and not self._renewed and _may_renew(producer, error, backs_off=settled):
            if settled:
                settling_of(producer).want(topic, partition, type(error).__name__)
            else:
                self._renewed = _renew(producer, topic, partition, type(error).__name__)
        if isinstance(error, InvalidTimestampError):
            refused = _REFUSED.setdefault(producer, _Refusals(where))
            if not refused.clock_seen_at:
                log.error("Kafka refuses the producer's timestamps: set this host's clock right", topic=topic)
            refused.clock_seen_at = monotonic()
        elif isinstance(error, OutOfOrderSequenceNumber) and not self.renews_sequences:
            refused = _REFUSED.setdefault(producer, _Refusals(where))
            if not refused.sequence_broken:
                refused.sequence_broken, refused.where = True, where
                log.error(
                    "Kafka refuses the producer's sequence: restart the service", topic=topic, partition=partition
                )
