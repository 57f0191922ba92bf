"""Publishes the events a unit of work produced, all at once.

Sends without waiting for each confirmation, then awaits them all:
one round trip per unit of work instead of one per event. Raises if any
send failed, so the caller's transaction is not committed and the cause is
re-delivered.
"""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass
from typing import Any, Protocol

import pydantic_core
from faststream.kafka import KafkaBroker

from shared.events import Envelope
from shared.kafka.direct import aiokafka_producer, json_headers, partition_of
from shared.topics import TopicNames


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event to publish: its envelope as JSON (`envelope_json`), the topic and the key."""

    body: dict[str, Any]
    topic: str
    key: str

    @property
    def type(self) -> str:
        return str(self.body["type"])

    @property
    def envelope(self) -> Envelope:
        """The envelope as the model, validated: for tests and readers off the hot path."""
        return Envelope.model_validate(self.body)


class Emitter(Protocol):
    async def emit(self, events: list[Outgoing]) -> None: ...


class KafkaEmitter:
    """Hands each event straight to the broker's aiokafka producer (idempotent, acks=all).

    FastStream's `publish` costs more per event than routing's decision does
    (a command object, middlewares, its codec): the body is encoded here as
    FastStream would (compact JSON) with the headers FastStream would add.
    Under FastStream's test broker, which has no aiokafka producer, events go
    through `broker.publish`.
    """

    def __init__(self, broker: KafkaBroker, topics: TopicNames) -> None:
        self._broker = broker
        self._topics = topics

    async def emit(self, events: list[Outgoing]) -> None:
        producer = aiokafka_producer(self._broker)
        if producer is None:
            await self._publish_each(events)
            return
        partitions = {t: sorted(await producer.partitions_for(self._topics(t))) for t in {e.topic for e in events}}
        pending = []
        for event in events:
            topic, key = self._topics(event.topic), event.key.encode()
            pending.append(
                await producer.send(
                    topic,
                    pydantic_core.to_json(event.body),
                    key=key,
                    partition=partition_of(key, partitions[event.topic]),
                    headers=json_headers(event.body),
                )
            )
        for sent in pending:  # in order: most are done once the first is, and a done future returns at once
            await sent

    async def _publish_each(self, events: list[Outgoing]) -> None:
        pending = [
            await self._broker.publish(
                event.body,
                self._topics(event.topic),
                key=event.key.encode(),
                headers={"event_type": event.type, "event_id": event.body["event_id"]},
                correlation_id=event.body["correlation_id"],
                no_confirm=True,
            )
            for event in events
        ]
        # the real broker hands back futures of the sends; the test broker has delivered already
        await asyncio.gather(*(sent for sent in pending if inspect.isawaitable(sent)))


class RecordingEmitter:
    """Keeps what would be published: for unit tests, and for a rebuild that must not re-publish."""

    def __init__(self) -> None:
        self.events: list[Outgoing] = []

    async def emit(self, events: list[Outgoing]) -> None:
        self.events.extend(events)


class DiscardingEmitter:
    """Publishes nothing: a rebuild reconstructs the store, the topics already hold the events."""

    async def emit(self, events: list[Outgoing]) -> None:
        return None
