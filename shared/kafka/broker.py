"""Builds a service's FastStream Kafka broker, its event publisher and its dead-letter sink."""

from __future__ import annotations

import logging
from typing import Protocol

from faststream.kafka import KafkaBroker

from shared.events.envelope import Envelope
from shared.kafka.failures import DeadLetters
from shared.kafka.security import KafkaConnection
from shared.settings import CommonSettings
from shared.topics import DEAD_LETTER, TopicNames


def build_broker(settings: CommonSettings, *, service: str) -> KafkaBroker:
    """An idempotent producer (acks=all). Nothing connects here; the lifespan starts it."""
    kafka = KafkaConnection.from_settings(settings)
    return KafkaBroker(
        kafka.servers,
        security=kafka.security(),
        client_id=f"popflow-{service}",
        enable_idempotence=True,
        acks="all",
        logger=logging.getLogger(f"popflow.{service}.kafka"),
        # FastStream's per-message "Received/Processed" lines only at DEBUG: handlers log
        # one line per handled event themselves, with the event's context bound
        log_level=logging.DEBUG,
    )


def dead_letters_for(broker: KafkaBroker, topics: TopicNames) -> DeadLetters:
    async def publish(body: bytes, headers: dict[str, str]) -> None:
        await broker.publish(body, topics(DEAD_LETTER), headers=headers)

    return DeadLetters(publish)


class EventPublisher(Protocol):
    """Publishes enveloped events; the Kafka adapter and the test fake both fit."""

    async def publish(self, envelope: Envelope, *, topic: str, key: str) -> None: ...


class KafkaEventPublisher:
    """Publishes an envelope to a prefixed topic, keyed by person key."""

    def __init__(self, broker: KafkaBroker, topics: TopicNames) -> None:
        self._broker = broker
        self._topics = topics

    async def publish(self, envelope: Envelope, *, topic: str, key: str) -> None:
        await self._broker.publish(
            envelope.model_dump(mode="json"),
            self._topics(topic),
            key=key.encode(),
            headers={"event_type": envelope.type, "event_id": str(envelope.event_id)},
            correlation_id=envelope.correlation_id,
        )
