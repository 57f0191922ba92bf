"""How every PopFlow subscriber consumes: one place for the consumer options and policy.

Messages are read in batches (up to `max_records`) and the batch's offsets
are committed once, after every message in it was handled: a crash
re-delivers instead of losing, and committing per batch rather than per
message keeps the broker round-trips off the hot path. Each service reads
with its own consumer group from the earliest offset, so a new service
catches up on history. Failure policy: shared.kafka.failures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker

from shared.events.envelope import Envelope, Event, parse_event
from shared.kafka.broker import dead_letters_for
from shared.kafka.failures import PERMANENT_ERRORS, DeadLetters
from shared.topics import TopicNames

Handler = Callable[[Envelope, Event], Awaitable[None]]
BatchHandler = Callable[[Sequence[tuple[Envelope, Event]]], Awaitable[None]]
LOG_CONTEXT = ("event_id", "correlation_id", "topic", "event_type")
MESSAGE = Context("message")  # the raw batch: FastStream fills it in per call


async def _raw_body(message: Any) -> Any:
    # Decoding is ours (per message, with dead-lettering), not FastStream's.
    return message.body


def subscribe(
    broker: KafkaBroker,
    topics: TopicNames,
    *,
    topic: str,
    group: str,
    handler: Handler,
    max_records: int = 500,
    dead_letters: DeadLetters | None = None,
) -> None:
    """Register `handler(envelope, event)`, called once per message, in partition order.

    Binds the event id, correlation id and topic to every log line of the handling.
    """
    sink = dead_letters or dead_letters_for(broker, topics)

    async def handle_batch(batch: Sequence[tuple[Envelope, Event, bytes, Any]]) -> None:
        for envelope, event, body, record in batch:
            structlog.contextvars.bind_contextvars(
                event_id=str(envelope.event_id),
                correlation_id=envelope.correlation_id,
                topic=topic,
                event_type=envelope.type,
            )
            try:
                await handler(envelope, event)
            except PERMANENT_ERRORS as error:
                await sink.send(body, record, error)
            finally:
                structlog.contextvars.unbind_contextvars(*LOG_CONTEXT)

    _register(broker, topics, sink, topic=topic, group=group, max_records=max_records, run=handle_batch)


def subscribe_batch(
    broker: KafkaBroker,
    topics: TopicNames,
    *,
    topic: str,
    group: str,
    handler: BatchHandler,
    max_records: int = 2000,
    dead_letters: DeadLetters | None = None,
) -> None:
    """Register `handler([(envelope, event), ...])` for folding many events in one transaction.

    Undecodable messages are dead-lettered before the handler sees the batch;
    the handler must be idempotent over the whole batch (it may see it again).
    """

    async def handle_batch(batch: Sequence[tuple[Envelope, Event, bytes, Any]]) -> None:
        await handler([(envelope, event) for envelope, event, _, _ in batch])

    _register(broker, topics, dead_letters, topic=topic, group=group, max_records=max_records, run=handle_batch)


def _register(
    broker: KafkaBroker,
    topics: TopicNames,
    dead_letters: DeadLetters | None,
    *,
    topic: str,
    group: str,
    max_records: int,
    run: Callable[[Sequence[tuple[Envelope, Event, bytes, Any]]], Awaitable[None]],
) -> None:
    dead_letters = dead_letters or dead_letters_for(broker, topics)

    async def consume(bodies: list[Any], message: Any = MESSAGE) -> None:
        records = message.raw_message if isinstance(message.raw_message, tuple) else (message.raw_message,)
        decoded = []
        for body, record in zip(bodies, records, strict=True):
            try:
                envelope = Envelope.model_validate_json(body)
                decoded.append((envelope, parse_event(envelope), body, record))
            except PERMANENT_ERRORS as error:
                await dead_letters.send(bytes(body), record, error)
        try:
            await run(decoded)
        except Exception as error:
            await dead_letters.pause_before_retry(error)
            raise

    broker.subscriber(
        topics(topic),
        group_id=group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=100,
        decoder=_raw_body,
        title=f"{group}:{topic}",
    )(consume)
