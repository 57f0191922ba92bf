"""Rebuild routing's store from the topics: replay the records, the review resolutions and the answers
together, in the order they happened.

The same use cases as the running service, wired by the composition root
(bootstrap.rebuild_into) to a fresh database and to an emitter that
publishes nothing (the topics hold those events already).

Every topic routing consumes (its subscribers, entrypoints/kafka.py) is
replayed in one stream, in the order the messages happened (`in_time_order`),
because what one does depends on what another did before it: a resolution
made before a later record of the person routes the record that the later
outflow marks; an answer that moved a case to another street before the
person's outflow was reported decides whether that outflow marks the case
(case_store.mark_outflow goes by the street the case lives at). Replayed phase by
phase, records then answers, the outflow met the case at its first street:
a case the live outflow marked stayed open, and one it left was marked.

Each partition keeps its own order: one person's records, and its answers,
share a partition of their topic (keyed by person key; answers by
shared.events.feedback.notice_answered_key), one item's resolutions too
(keyed by record id). The partitions of all three topics are interleaved by
when each one's next message happened, its envelope's `occurred_at`; at
equal times a record first, then a resolution, then an answer. Why that
time, and not the order the live service read them in: that order is
recorded nowhere (each topic has its consumer group, and their lags are not
kept), and the broker's timestamps say when an outbox relay sent a message,
not when routing read it. `occurred_at` is the time the message is stamped
with (`MessageTime`) and the live service read the topics in that order
less its lag, seconds while it kept up. It keeps each cause before what it
causes as long as the clocks agree: a notice is answered only after the
record, resolution or answer that issued it happened. An answer stamped
earlier (a partner's clock behind ours: an exchange answer carries the
partner's answered_at) is parked, as the live service parks an answer
whose notice is not stored yet, and applied once a later message stores
its notice (`Parked`); one whose notice has not come within the parked
answers' maximum age (of the replayed time) is refused, as the live job set
it aside. Where the live service lagged on one topic
longer than the time between two messages of one person on different
topics, it read them the other way round, and the rebuild follows the order
they happened (docs/routing.md, Rebuild). Messages the live service
dead-lettered fail the same way here and are counted, not applied.

Memory stays bounded whatever the topics hold: each partition is read as a
stream (shared.kafka.replay.PartitionsToEnd, one consumer per topic, a batch
at a time), and the merge holds one message per partition.

Each message is handled at its own time (`MessageTime`, the envelope's
`occurred_at`), not the rebuild's: a decision, a notice's issue and answer
due, a review item's arrival are stamped as the live service stamped them,
less the moments it took to reach the message, so deadlines and the review
queue's ages survive a rebuild and the reminder job follows up what fell due
meanwhile.
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from services.routing.adapters import decision_store, parked_store
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.parked import ParkedAnswers
from services.routing.service_layer.records import RecordHandler
from services.routing.service_layer.reviews import ReviewHandler
from shared.events import Envelope, Event, NoticeAnswered, RecordSubmitted, ReviewResolved, parse_event
from shared.kafka.failures import PERMANENT_ERRORS, DeadLetters
from shared.kafka.replay import PartitionsToEnd
from shared.kafka.security import KafkaConnection
from shared.sealing import Keyring
from shared.topics import TopicNames

log = structlog.get_logger(__name__)

Handler = Callable[[Envelope, Event], Awaitable[None]]
# a topic's partitions (the topic by contract name), each the partition's messages from the first to the end
Read = Callable[[str], Awaitable[list[AsyncIterator[bytes]]]]
# every topic routing consumes, replayed together in the order it happened; at equal times in this order
TOPICS = (RecordSubmitted.TOPIC, ReviewResolved.TOPIC, NoticeAnswered.TOPIC)
UNREADABLE = datetime.min.replace(tzinfo=UTC)  # an envelope that does not decode: refused as soon as it is next
PARKED_MAX_AGE = timedelta(days=1)  # ROUTING_PARKED_ANSWER_MAX_AGE_S's default


class StoreNotEmpty(RuntimeError):
    """The target store already holds decisions; a rebuild starts from nothing."""


class MessageTime:
    """The rebuild's clock: the time the message being replayed happened."""

    def __init__(self) -> None:
        self._at: datetime | None = None

    def replaying(self, envelope: Envelope) -> None:
        self._at = happened_at(envelope)

    def now(self) -> datetime:
        if self._at is None:
            raise RuntimeError("the time was asked for outside a replayed message")
        return self._at

    async def sleep_until(self, moment: datetime) -> None:
        return None  # nothing in a replay waits: there is no later than the message's own time


@dataclass
class Replayed:
    applied: int = 0
    refused: int = 0


async def rebuild(
    context: RoutingContext,
    *,
    kafka: KafkaConnection,
    topics: TopicNames,
    on_message: Callable[[], None] = lambda: None,
    parked_max_age: timedelta = PARKED_MAX_AGE,
) -> dict[str, Replayed]:
    """Replay records.submitted, reviews.resolved and notices.answered together, in the order they happened,
    from the start into the (empty) store."""
    async with PartitionsToEnd(kafka) as partitions:
        return await replay_topics(context, lambda topic: partitions.of(topics(topic)), on_message, parked_max_age)


async def replay_topics(
    context: RoutingContext,
    read: Read,
    on_message: Callable[[], None] = lambda: None,
    parked_max_age: timedelta = PARKED_MAX_AGE,
) -> dict[str, Replayed]:
    """Replay what `read` gives of each input topic, in the rebuild's order, into the (empty) store."""
    async with context.reads() as session:
        if await decision_store.holds_decisions(session):
            raise StoreNotEmpty("the target store holds decisions already; give an empty database")
    clock = MessageTime()
    replaying = replace(context, clock=clock)
    answers = AnswerHandler(replaying, park=True)
    handlers: dict[str, Handler] = {
        RecordSubmitted.TOPIC: RecordHandler(replaying).on_record_submitted,
        ReviewResolved.TOPIC: ReviewHandler(replaying).on_review_resolved,
        NoticeAnswered.TOPIC: answers.on_notice_answered,
    }
    counts = {topic: Replayed() for topic in TOPICS}
    parked = Parked(replaying, answers, counts[NoticeAnswered.TOPIC], parked_max_age)
    streams = [(topic, partition) for topic in TOPICS for partition in await read(topic)]
    async for topic, message in in_time_order(streams):
        if isinstance(message, Envelope):
            clock.replaying(message)
            await parked.expire()  # the live job, every few seconds, set aside what got too old meanwhile
        await _apply(handlers[topic], message, counts[topic], context.keyring)
        await parked.after(topic)
        on_message()
    # what still waits is left to the service's job, as the live one left it: set aside once too old by now
    await Parked(context, answers, counts[NoticeAnswered.TOPIC], parked_max_age).after(NoticeAnswered.TOPIC)
    for topic, replayed in counts.items():
        log.info("topic replayed", topic=topic, applied=replayed.applied, refused=replayed.refused)
    return counts


class Parked:
    """The answers parked during the replay (their notice not stored yet when their turn came), applied once
    a later message stores it: the live job's pass, run after each message while any wait, at that
    message's time. One set aside (too old, or it can never apply) is counted refused, and sent nowhere:
    the live job sent it to the dead-letter topic already."""

    def __init__(self, context: RoutingContext, answers: AnswerHandler, counts: Replayed, max_age: timedelta) -> None:
        self._context = context
        self._job = ParkedAnswers(
            context, answers.apply_now, _CountedAside(counts), group="routing-rebuild", max_age=max_age
        )
        self._waiting = False

    async def expire(self) -> None:
        """Before a message, at its time: set aside what waited too long by then (a pass; nothing waiting is
        ready, the pass after the message before applied it)."""
        if self._waiting:
            await self._pass()

    async def after(self, topic: str) -> None:
        """After a message: apply what it let apply. After an answer, look whether it was parked."""
        if topic == NoticeAnswered.TOPIC and not self._waiting:
            async with self._context.reads() as session:
                self._waiting = await parked_store.parked_count(session) > 0
        if self._waiting:
            await self._pass()

    async def _pass(self) -> None:
        await self._job.run_once()
        async with self._context.reads() as session:
            self._waiting = await parked_store.parked_count(session) > 0


class _CountedAside(DeadLetters):
    """An answer set aside during the replay: counted refused instead of applied, and sent nowhere."""

    def __init__(self, counts: Replayed) -> None:
        super().__init__(self._nowhere)
        self._counts = counts

    async def send(self, body: bytes, source: Any, error: Exception, *, group: str) -> None:
        self._counts.applied -= 1
        _refused(self._counts, error)

    @staticmethod
    async def _nowhere(body: bytes, headers: dict[str, str]) -> None:
        return None


async def in_time_order(
    streams: Sequence[tuple[str, AsyncIterator[bytes]]],
) -> AsyncIterator[tuple[str, Envelope | Exception]]:
    """The messages of every stream (a topic's partition: the topic, its messages), as (topic, envelope),
    each stream's in its own order, the streams interleaved by when their next messages happened: the
    earliest first, at equal times the one of the stream listed first. One that does not decode comes as
    its error, next."""
    heads: list[tuple[datetime, int, Envelope | Exception]] = []  # one per stream not yet at its end

    async def take_next(index: int) -> None:
        try:
            raw = await anext(streams[index][1])
        except StopAsyncIteration:
            return
        try:
            envelope = Envelope.model_validate_json(raw)
        except PERMANENT_ERRORS as error:
            heapq.heappush(heads, (UNREADABLE, index, error))
        else:
            heapq.heappush(heads, (happened_at(envelope), index, envelope))

    for index in range(len(streams)):
        await take_next(index)
    while heads:
        _, index, message = heapq.heappop(heads)
        yield streams[index][0], message
        await take_next(index)


def happened_at(envelope: Envelope) -> datetime:
    """When the message happened: its `occurred_at` (always with an offset: an envelope without one does not
    decode, and is refused here as the live consumer dead-lettered it)."""
    return envelope.occurred_at


async def _apply(handler: Handler, message: Envelope | Exception, counts: Replayed, keyring: Keyring) -> None:
    """Handle one replayed message, at its own time (the caller set the clock to it)."""
    if isinstance(message, Exception):
        _refused(counts, message)
        return
    try:
        await handler(message, parse_event(message, keyring))
    except PERMANENT_ERRORS as error:
        _refused(counts, error)
    else:
        counts.applied += 1


def _refused(counts: Replayed, error: Exception) -> None:
    counts.refused += 1
    log.warning("message refused during replay", error=type(error).__name__)
