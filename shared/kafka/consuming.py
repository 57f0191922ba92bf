"""How every PopFlow subscriber consumes: one place for the consumer options.

Offsets are committed only after the handler returned (NACK_ON_ERROR), so a
crash re-delivers instead of losing; handlers are idempotent, so the
re-delivery is harmless. Each service reads with its own consumer group from
the earliest offset, so a new service catches up on history.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from shared.events.envelope import Envelope, Event, parse_event
from shared.kafka.failures import PERMANENT_ERRORS, dead_letter_headers
from shared.topics import DEAD_LETTER, TopicNames

log = structlog.get_logger(__name__)

EventHandler = Callable[[Envelope, Any], Awaitable[None]]


def subscribe(
    broker: KafkaBroker,
    topics: TopicNames,
    *,
    topic: str,
    group: str,
    handler: Callable[[Envelope, Event], Awaitable[None]],
) -> None:
    """Register `handler(envelope, event)` for `topic` with the standard policy.

    Binds the event id, correlation id and topic to every log line of the handling.
    """

    async def consume(envelope: Envelope) -> None:
        structlog.contextvars.bind_contextvars(
            event_id=str(envelope.event_id),
            correlation_id=envelope.correlation_id,
            topic=topic,
            event_type=envelope.type,
        )
        try:
            await handler(envelope, parse_event(envelope))
        finally:
            structlog.contextvars.unbind_contextvars("event_id", "correlation_id", "topic", "event_type")

    broker.subscriber(
        topics(topic),
        group_id=group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=f"{group}:{topic}",
    )(consume)


BatchHandler = Callable[[list[tuple[Envelope, Event]]], Awaitable[None]]


def subscribe_batch(
    broker: KafkaBroker,
    topics: TopicNames,
    *,
    topic: str,
    group: str,
    handler: BatchHandler,
    max_records: int = 500,
) -> None:
    """Register `handler(events)` for `topic`, up to `max_records` events per call.

    For a handler that does one unit of work (one transaction, one flush of
    the producer) per batch, where one per event costs too much. The policy
    is `subscribe`'s: offsets committed after the handler returned, transient
    errors retried (the batch is delivered again). A message that can never
    be handled is dead-lettered alone: an undecodable one before the handler
    runs; when the handler raises a permanent error, the batch is handled
    again one event at a time, so that only the culprit goes.
    """

    async def dead_letter(record: Any, error: Exception) -> None:
        headers = dead_letter_headers(error, record)
        log.error("message dead-lettered", **headers)
        await broker.publish(record.value, topics(DEAD_LETTER), headers=headers)

    async def consume(records: list[Any]) -> None:
        events = []
        for record in records:
            try:
                envelope = Envelope.model_validate_json(record.value)
                events.append((record, envelope, parse_event(envelope)))
            except PERMANENT_ERRORS as error:
                await dead_letter(record, error)
        try:
            await handler([(envelope, event) for _, envelope, event in events])
        except PERMANENT_ERRORS:
            for record, envelope, event in events:
                try:
                    await handler([(envelope, event)])
                except PERMANENT_ERRORS as error:
                    await dead_letter(record, error)

    async def raw_records(msg: Any) -> list[Any]:
        return list(msg.raw_message)

    broker.subscriber(
        topics(topic),
        group_id=group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=max_records,
        decoder=raw_records,
        title=f"{group}:{topic}",
    )(consume)
