"""Rebuild routing's store from the topics: replay every record, every review resolution, then every answer.

The same use cases as the running service, wired by the composition root
(bootstrap.rebuild_into) to a fresh database and to an emitter that
publishes nothing (the topics hold those events already).
Records go first, then the bureau's review resolutions (each follows the
record it resolves), then answers: an answer always follows the notice it
answers (a resolution's notices included), and answers of one person share a partition (keyed by person key,
shared.events.feedback.notice_answered_key), so they replay in the order
they were given. Messages the live service dead-lettered fail the same way
here and are counted, not applied.

Each message is handled at its own time (`MessageTime`, the envelope's
`occurred_at`), not the rebuild's: a decision, a notice's issue and answer
due, a review item's arrival are stamped as the live service stamped them,
less the moments it took to reach the message, so deadlines and the review
queue's ages survive a rebuild and the reminder job follows up what fell due
meanwhile.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

import structlog

from services.routing.adapters import store
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.records import RecordHandler
from services.routing.service_layer.reviews import ReviewHandler
from shared.events import Envelope, Event, NoticeAnswered, RecordSubmitted, ReviewResolved, parse_event
from shared.kafka.failures import PERMANENT_ERRORS
from shared.kafka.replay import messages_to_end
from shared.kafka.security import KafkaConnection
from shared.sealing import Keyring
from shared.topics import TopicNames

log = structlog.get_logger(__name__)

Handler = Callable[[Envelope, Event], Awaitable[None]]
Read = Callable[[str], AsyncIterator[bytes]]  # a topic's messages (by contract name), from the first to the end


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
    """Replay records.submitted, reviews.resolved, then notices.answered from the start into the (empty) store."""
    return await replay_topics(context, lambda topic: messages_to_end(kafka, topics(topic)), on_message)


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
    return {
        topic: await replay(read(topic), topic, handler, clock, on_message, context.keyring)
        for topic, handler in handlers.items()
    }


async def replay(
    messages: AsyncIterator[bytes],
    topic: str,
    handler: Handler,
    clock: MessageTime,
    on_message: Callable[[], None],
    keyring: Keyring,
) -> Replayed:
    """Every message of `messages` (`topic`'s) through `handler`, counting those refused."""
    counts = Replayed()
    async for value in messages:
        await _apply(handler, value, counts, clock, keyring)
        on_message()
    log.info("topic replayed", topic=topic, applied=counts.applied, refused=counts.refused)
    return counts


async def _apply(handler: Handler, raw: bytes, counts: Replayed, clock: MessageTime, keyring: Keyring) -> None:
    try:
        envelope = Envelope.model_validate_json(raw)
        clock.replaying(envelope)
        await handler(envelope, parse_event(envelope, keyring))
    except PERMANENT_ERRORS as error:
        counts.refused += 1
        log.warning("message refused during replay", error=type(error).__name__)
    else:
        counts.applied += 1
