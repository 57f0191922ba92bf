"""How every PopFlow subscriber consumes: one place for the consumer options and policy.

Messages are read in batches (up to `max_records`) and the batch's offsets
are committed after every message in it was handled, together with those of
the batches done within the next half second (shared.kafka.commits): a crash
re-delivers instead of losing, and committing a while after rather than per
batch keeps the broker round-trips off the hot path. A batch that fails
part way is read again from each partition's first message not done
(shared.kafka.progress), that offset committed: what was set aside already
is not set aside again. Each service reads with its own consumer group from
the earliest offset, so a new service catches up on history. Failure
policy: shared.kafka.failures.

A subscriber off the latency path of a notice (nobody waits for its effect
within a second) may let the broker hold each fetch until it is fuller
(`fill_wait_ms`): at a few hundred records a second a consumer otherwise
reads, writes and commits a record or two at a time, each batch paying a
fetch, a transaction and an offset commit of its own (docs/performance.md,
round 7).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import chain
from typing import Any

import structlog
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage

from shared.events.envelope import Envelope, Event
from shared.kafka.batches import (
    BatchHandler,
    Decoded,
    Readable,
    Run,
    Unreadable,
    batch_then_singles,
    decoded,
    in_batch,
)
from shared.kafka.broker import dead_letters_for
from shared.kafka.commits import STOP_COMMIT_S, CommitOnRevoke, Commits
from shared.kafka.failures import DeadLetters, is_permanent
from shared.kafka.progress import Progress
from shared.kafka.rewind import read_again_from
from shared.sealing import Keyring
from shared.topics import TopicNames

FILL_BYTES = 256 * 1024  # a fetch held for `fill_wait_ms` is answered sooner once this much is there
FILL_WAIT_MS = 250  # the wait of the subscribers that fill their fetches: intake's routes, reporting's fold
POLL_MS = 200  # how long an idle subscriber's poll waits for a message before it polls again
Handler = Callable[[Envelope, Event], Awaitable[None]]
LOG_CONTEXT = ("event_id", "correlation_id", "topic", "event_type")
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class InHand:
    """The message a `subscribe` handler is handling: its body as it came, and where it came from
    (`topic`, `partition`, `offset`: what a dead letter's headers name)."""

    body: bytes
    topic: str
    partition: int | None
    offset: int | None

    @classmethod
    def of(cls, message: Readable) -> InHand:
        """A decoded message's body and where its consumer record came from."""
        record = message.record
        return cls(
            message.body,
            str(getattr(record, "topic", "")),
            getattr(record, "partition", None),
            getattr(record, "offset", None),
        )


_IN_HAND: ContextVar[InHand | None] = ContextVar("popflow_message_in_hand", default=None)


def message_in_hand(event_id: str | None = None) -> InHand | None:
    """The message the current `subscribe` handler is handling, or the one of the batch a `subscribe_batch`
    handler is handling whose event has `event_id`; None outside one (a replay, a test).

    For a handler that keeps a message to handle it later (routing parks an answer to a notice not
    stored yet) and may have to set it aside then as the consumer would have.
    """
    if (single := _IN_HAND.get()) is not None:
        return single
    message = in_batch(event_id) if event_id is not None else None
    return InHand.of(message) if message is not None else None


async def _raw_records(message: Any) -> list[Any]:
    # Decoding is ours (per message, with dead-lettering), not FastStream's: hand over the
    # consumer records themselves (value, topic, partition, offset) of the whole batch.
    raw = message.raw_message
    return list(raw) if isinstance(raw, tuple | list) else [raw]


def subscribe(
    broker: KafkaBroker,
    topics: TopicNames,
    *,
    topic: str,
    group: str,
    handler: Handler,
    keyring: Keyring,
    max_records: int = 500,
    dead_letters: DeadLetters | None = None,
) -> None:
    """Register `handler(envelope, event)`, called once per message, in partition order.

    The event's sealed parts are opened with `keyring`; dead letters are sealed with it.

    Binds the event id, correlation id and topic to every log line of the handling.
    """
    sink, group_id = dead_letters or dead_letters_for(broker, topics, keyring), topics(group)

    async def handle_batch(batch: Decoded, progress: Progress) -> None:
        for message in batch:  # in order: a message is done only once those before it in its partition are
            if isinstance(message, Unreadable):
                await sink.send(message.body, message.record, message.error, group=group_id)
            else:
                await handle_one(message)
            progress.done(message.record)

    async def handle_one(message: Readable) -> None:
        envelope, record = message.envelope, message.record
        structlog.contextvars.bind_contextvars(
            event_id=str(envelope.event_id),
            correlation_id=envelope.correlation_id,
            topic=topic,
            event_type=envelope.type,
        )
        in_hand = _IN_HAND.set(InHand.of(message))
        try:
            await handler(envelope, message.event)
        except Exception as error:
            if not is_permanent(error):
                raise
            await sink.send(message.body, record, error, group=group_id)
        finally:
            _IN_HAND.reset(in_hand)
            structlog.contextvars.unbind_contextvars(*LOG_CONTEXT)

    _register(broker, topics, sink, keyring, topic=topic, group=group, max_records=max_records, run=handle_batch)


def subscribe_batch(
    broker: KafkaBroker,
    topics: TopicNames,
    *,
    topic: str,
    group: str,
    handler: BatchHandler,
    keyring: Keyring,
    max_records: int = 2000,
    dead_letters: DeadLetters | None = None,
    fill_wait_ms: int | None = None,
    members: int = 1,
) -> None:
    """Register `handler([(envelope, event), ...])` for one unit of work (one transaction,
    one producer flush) per batch, where one per event costs too much.

    `members`: consumers of the group to run in this process, each with its own share of the
    partitions and its own batches, handled concurrently on the event loop: while one batch waits
    on the database, the next consumer's batch is decoded and decided, where one consumer leaves
    its core idle for that wait. A partition is still read by one member, in order. The handler
    must then be safe for concurrent batches, as it must be for several processes anyway.

    `fill_wait_ms`: how long the broker may hold a fetch to fill it (FILL_BYTES); for
    subscribers whose effect nobody waits for, so their batches are larger at low rates.

    The handler sees the decoded messages; the undecodable are dead-lettered
    after it, in their order. When the handler raises a permanent error, the
    batch is handled again one event at a time, so that only the culprit is
    dead-lettered. The handler must be idempotent over the whole batch (it may
    see part of it again).
    """
    sink, group_id = dead_letters or dead_letters_for(broker, topics, keyring), topics(group)
    run = batch_then_singles(handler, sink, group_id)
    for member in range(members):
        _register(
            broker,
            topics,
            sink,
            keyring,
            topic=topic,
            group=group,
            max_records=max_records,
            run=run,
            fill_wait_ms=fill_wait_ms,
            member=member,
        )


def _register(
    broker: KafkaBroker,
    topics: TopicNames,
    dead_letters: DeadLetters,
    keyring: Keyring,
    *,
    topic: str,
    group: str,
    max_records: int,
    run: Run,
    fill_wait_ms: int | None = None,
    member: int = 0,
) -> None:
    group_id = topics(group)  # prefixed like the topics: group ids are global on a broker
    commits = Commits()

    async def consume(records: list[Any]) -> None:
        # the message (its consumer, its ack) from FastStream's context, not as a `KafkaMessage` parameter:
        # fast-depends resolves such a parameter in a worker thread, a thread hop every batch
        # (docs/performance.md, round 55)
        message: KafkaMessage = broker.context.get_local("message")
        progress, set_aside = Progress(records), dead_letters.sent
        try:
            await run(decoded(records, keyring), progress)
        except Exception as error:
            # read again from each partition's first message not done (committed there), not from the batch's
            # start: a dead letter Kafka took before the failure is not set aside again. Paced like a failing
            # handler: a dead letter that cannot be published (Kafka away) fails the batch, which comes again;
            # without the pause it came again at once, as fast as the broker could say no
            await read_again_from(message.consumer, progress.resume())
            commits.done(message.consumer, progress.moved())
            await commits.commit()
            await dead_letters.pause_before_retry(error)
            raise
        commits.done(message.consumer, progress.resume())  # committed a while after, with the next batches'
        if dead_letters.sent != set_aside:  # at once past a dead letter Kafka took: a crash must not set it aside again
            await commits.commit()

    subscriber = broker.subscriber(
        topics(topic),
        # Group ids are global on a broker: prefixed like the topics, so two deployments
        # (or test runs) sharing a cluster never join, and stall, each other's groups.
        group_id=group_id,
        auto_offset_reset="earliest",
        # committed by `consume` itself: FastStream's nack would read a failed batch again from its start
        ack_policy=AckPolicy.MANUAL,
        listener=CommitOnRevoke(commits),
        batch=True,
        max_records=max_records,
        batch_timeout_ms=POLL_MS,
        # answered at once when anything is there (the client's defaults), unless the subscriber may wait
        fetch_min_bytes=FILL_BYTES if fill_wait_ms else 1,
        fetch_max_wait_ms=fill_wait_ms or 500,
        decoder=_raw_records,
        title=f"{group}:{topic}" + (f"#{member + 1}" if member else ""),
    )
    subscriber(consume)
    poll_without_pause(subscriber)
    commit_before_stop(subscriber, commits)


def commit_before_stop(subscriber: Any, commits: Commits) -> None:
    """Commit the offsets `commits` keeps when the subscriber stops, before its consumer closes: STOP_COMMIT_S at
    most, then the subscriber stops all the same (aiokafka waits for a Kafka that is away until its consumer is
    stopped, and a stop must not wait for ever)."""
    stop = subscriber.stop

    async def stopping() -> None:
        try:
            await asyncio.wait_for(commits.close(), STOP_COMMIT_S)
        except TimeoutError:  # the group reads again what was done since the last commit
            log.warning("offsets not committed at stop", waited_s=STOP_COMMIT_S)
        finally:
            await stop()

    subscriber.stop = stopping


def poll_without_pause(subscriber: Any) -> None:
    """Let a FastStream batch subscriber poll again as soon as a poll comes back empty.

    FastStream's batch subscriber sleeps for `batch_timeout_ms` after every empty
    poll, deaf to the topic while it sleeps: an idle subscriber is deaf half of
    the time, and a message that arrives then waits out the sleep (25 ms on
    average and 100 ms at worst at 100 ms, for every hop of a notice's way). The
    sleep guards against nothing here: aiokafka's `getmany` itself waits up to
    its timeout for a message (POLL_MS, never zero), so polling again at once is
    no busy loop. The records come out as FastStream's own `get_msg` returns them.
    """
    timeout_ms, max_records = subscriber.batch_timeout_ms, subscriber.max_records
    if timeout_ms <= 0:
        raise ValueError("a poll without a timeout would spin")

    async def get_msg(consumer: Any) -> tuple[Any, ...]:
        batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return tuple(chain.from_iterable(batches.values()))

    subscriber.get_msg = get_msg
