"""Rebuild routing's store from the topics: replay the records and the review resolutions in the order they
happened, then every answer.

The same use cases as the running service, wired by the composition root
(bootstrap.rebuild_into) to a fresh database and to an emitter that
publishes nothing (the topics hold those events already).
Records and the bureau's review resolutions are replayed together, in the
order they happened (`in_time_order`): a resolution made before a later
record of the person is applied before that record, as the live service
applied it (an outflow read after a correction routed its record marks the
case; read before, it finds nothing to mark). Each partition keeps its own
order (one person's records share a partition, keyed by person key; one
item's resolutions too, keyed by record id); the partitions of both topics
are interleaved by when each next message happened, a record first at equal
times. Then answers: an answer always follows the notice it answers (a
resolution's notices included), and answers of one person share a partition
(keyed by person key, shared.events.feedback.notice_answered_key), so they
replay in the order they were given. Messages the live service dead-lettered
fail the same way here and are counted, not applied.

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
from datetime import UTC, datetime

import structlog

from services.routing.adapters import store
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.records import RecordHandler
from services.routing.service_layer.reviews import ReviewHandler
from shared.events import Envelope, Event, NoticeAnswered, RecordSubmitted, ReviewResolved, parse_event
from shared.kafka.failures import PERMANENT_ERRORS
from shared.kafka.replay import PartitionsToEnd
from shared.kafka.security import KafkaConnection
from shared.sealing import Keyring
from shared.topics import TopicNames

log = structlog.get_logger(__name__)

Handler = Callable[[Envelope, Event], Awaitable[None]]
# a topic's partitions (the topic by contract name), each the partition's messages from the first to the end
Read = Callable[[str], Awaitable[list[AsyncIterator[bytes]]]]
# what is replayed together, in the order it happened: records with resolutions, then the answers
PHASES = ((RecordSubmitted.TOPIC, ReviewResolved.TOPIC), (NoticeAnswered.TOPIC,))
UNREADABLE = datetime.min.replace(tzinfo=UTC)  # an envelope that does not decode: refused as soon as it is next


class StoreNotEmpty(RuntimeError):
    """The target store already holds decisions; a rebuild starts from nothing."""


class MessageTime:
    """The rebuild's clock: the time the message being replayed happened."""

    def __init__(self) -> None:
        self._at: datetime | None = None

    def replaying(self, envelope: Envelope) -> None:
        self._at = envelope.occurred_at

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
) -> dict[str, Replayed]:
    """Replay records.submitted with reviews.resolved, then notices.answered, from the start into the (empty) store."""
    async with PartitionsToEnd(kafka) as partitions:
        return await replay_topics(context, lambda topic: partitions.of(topics(topic)), on_message)


async def replay_topics(
    context: RoutingContext, read: Read, on_message: Callable[[], None] = lambda: None
) -> dict[str, Replayed]:
    """Replay what `read` gives of each input topic, in the rebuild's order, into the (empty) store."""
    async with context.sessions() as session:
        if await store.holds_decisions(session):
            raise StoreNotEmpty("the target store holds decisions already; give an empty database")
    clock = MessageTime()
    context = replace(context, clock=clock)
    handlers: dict[str, Handler] = {
        RecordSubmitted.TOPIC: RecordHandler(context).on_record_submitted,
        ReviewResolved.TOPIC: ReviewHandler(context).on_review_resolved,
        NoticeAnswered.TOPIC: AnswerHandler(context).on_notice_answered,
    }
    counts = {topic: Replayed() for topic in handlers}
    for phase in PHASES:
        streams = [(topic, partition) for topic in phase for partition in await read(topic)]
        async for topic, message in in_time_order(streams):
            await _apply(handlers[topic], message, counts[topic], clock, context.keyring)
            on_message()
    for topic, replayed in counts.items():
        log.info("topic replayed", topic=topic, applied=replayed.applied, refused=replayed.refused)
    return counts


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
            happened = envelope.occurred_at
            heapq.heappush(heads, (happened if happened.tzinfo else happened.replace(tzinfo=UTC), index, envelope))

    for index in range(len(streams)):
        await take_next(index)
    while heads:
        _, index, message = heapq.heappop(heads)
        yield streams[index][0], message
        await take_next(index)


async def _apply(
    handler: Handler, message: Envelope | Exception, counts: Replayed, clock: MessageTime, keyring: Keyring
) -> None:
    if isinstance(message, Exception):
        _refused(counts, message)
        return
    try:
        clock.replaying(message)
        await handler(message, parse_event(message, keyring))
    except PERMANENT_ERRORS as error:
        _refused(counts, error)
    else:
        counts.applied += 1


def _refused(counts: Replayed, error: Exception) -> None:
    counts.refused += 1
    log.warning("message refused during replay", error=type(error).__name__)
