"""Rebuild routing's store from the topics: replay every record, then every answer.

The same use cases as the running service, wired to a fresh database and to
an emitter that publishes nothing (the topics hold those events already).
Records go first, then answers: an answer always follows the notice it
answers, and answers of one record share a partition (keyed by record id),
so they replay in the order they were given. Messages the live service
dead-lettered fail the same way here and are counted, not applied.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from sqlalchemy import func, select

from services.routing.adapters.clock import SystemClock
from services.routing.adapters.emitter import DiscardingEmitter
from services.routing.adapters.replay import messages_to_end
from services.routing.adapters.tables import RoutedRecord
from services.routing.bootstrap import MIGRATIONS, build_context
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.records import RecordHandler
from services.routing.settings import RoutingSettings
from shared.db import build_engine, run_migrations, session_factory
from shared.events import Envelope, Event, NoticeAnswered, RecordSubmitted, parse_event
from shared.kafka.failures import PERMANENT_ERRORS
from shared.topics import TopicNames

log = structlog.get_logger(__name__)

Handler = Callable[[Envelope, Event], Awaitable[None]]


class StoreNotEmpty(RuntimeError):
    """The target store already holds decisions; a rebuild starts from nothing."""


@dataclass
class Replayed:
    applied: int = 0
    refused: int = 0


async def rebuild(settings: RoutingSettings, *, into: str) -> dict[str, Replayed]:
    """Replay records.submitted then notices.answered from the start into the store at `into`."""
    engine = build_engine(into)
    try:
        await run_migrations(engine, MIGRATIONS)
        sessions = session_factory(engine)
        async with sessions() as session:
            if await session.scalar(select(func.count()).select_from(RoutedRecord)):
                raise StoreNotEmpty("the target store holds decisions already; give an empty database")
        context = build_context(settings, sessions, DiscardingEmitter(), SystemClock())
        topics, servers = TopicNames(settings.topic_prefix), settings.kafka_bootstrap_servers
        handlers: dict[str, Handler] = {
            RecordSubmitted.TOPIC: RecordHandler(context).on_record_submitted,
            NoticeAnswered.TOPIC: AnswerHandler(context).on_notice_answered,
        }
        return {topic: await replay(servers, topics(topic), handler) for topic, handler in handlers.items()}
    finally:
        await engine.dispose()


async def replay(servers: str, topic: str, handler: Handler) -> Replayed:
    """Every message of `topic` from offset 0 to the end as it was when the replay began."""
    counts = Replayed()
    async for value in messages_to_end(servers, topic):
        await _apply(handler, value, counts)
    log.info("topic replayed", topic=topic, applied=counts.applied, refused=counts.refused)
    return counts


async def _apply(handler: Handler, raw: bytes, counts: Replayed) -> None:
    try:
        envelope = Envelope.model_validate_json(raw)
        await handler(envelope, parse_event(envelope))
    except PERMANENT_ERRORS as error:
        counts.refused += 1
        log.warning("message refused during replay", error=type(error).__name__)
    else:
        counts.applied += 1
