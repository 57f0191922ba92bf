"""Builds a service's FastStream Kafka broker and its event publisher."""

from __future__ import annotations

import logging
from typing import Protocol

from faststream.kafka import KafkaBroker

from shared.events.envelope import Envelope
from shared.kafka.failures import DeadLetterPolicy
from shared.settings import CommonSettings
from shared.topics import DEAD_LETTER, TopicNames


def build_broker(settings: CommonSettings, *, service: str) -> KafkaBroker:
    """An idempotent producer (acks=all) and the shared dead-letter policy.

    Nothing connects here; the service's lifespan starts the broker.
    """
    policy = DeadLetterPolicy()
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"popflow-{service}",
        enable_idempotence=True,
        acks="all",
        middlewares=(policy,),
        logger=logging.getLogger(f"popflow.{service}.kafka"),
    )
    topics = TopicNames(settings.topic_prefix)

    async def to_dead_letter(body: bytes, headers: dict[str, str]) -> None:
        await broker.publish(body, topics(DEAD_LETTER), headers=headers)

    policy.sink = to_dead_letter
    return broker


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
