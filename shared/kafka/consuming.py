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
from shared.topics import TopicNames

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
