"""Publishes the events a unit of work produced, all at once.

Sends without waiting for each confirmation, then awaits them together:
one round trip per unit of work instead of one per event. Raises if any
send failed, so the caller's transaction is not committed and the cause is
re-delivered.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from faststream.kafka import KafkaBroker

from shared.events import Envelope
from shared.topics import TopicNames


@dataclass(frozen=True, slots=True)
class Outgoing:
    envelope: Envelope
    topic: str
    key: str


class Emitter(Protocol):
    async def emit(self, events: list[Outgoing]) -> None: ...


class KafkaEmitter:
    def __init__(self, broker: KafkaBroker, topics: TopicNames) -> None:
        self._broker = broker
        self._topics = topics

    async def emit(self, events: list[Outgoing]) -> None:
        pending = [
            await self._broker.publish(
                event.envelope.model_dump(mode="json"),
                self._topics(event.topic),
                key=event.key.encode(),
                headers={"event_type": event.envelope.type, "event_id": str(event.envelope.event_id)},
                correlation_id=event.envelope.correlation_id,
                no_confirm=True,
            )
            for event in events
        ]
        await asyncio.gather(*pending)


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
