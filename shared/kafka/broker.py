"""Builds a service's FastStream Kafka broker, its event publisher and its dead-letter sink.

`aiokafka_producer` finds the aiokafka producer inside a started broker, for the writers that send to it
straight (shared/kafka/direct.py) and for /readyz, which asks it what the broker refused.
"""

from __future__ import annotations

import logging
from typing import Protocol

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from shared.events.envelope import Envelope
from shared.kafka.failures import SEALED_HEADER, TRUNCATED_HEADER, DeadLetters, Publish, seal_dead_letter
from shared.kafka.security import KafkaConnection
from shared.sealing import Keyring
from shared.settings import CommonSettings
from shared.topics import DEAD_LETTER, TopicNames


def build_broker(settings: CommonSettings, *, service: str) -> KafkaBroker:
    """An idempotent producer (acks=all). Nothing connects here; the lifespan starts it."""
    kafka = KafkaConnection.from_settings(settings)
    return KafkaBroker(
        kafka.bootstrap,
        security=kafka.security(),
        client_id=f"popflow-{service}",
        enable_idempotence=True,
        acks="all",
        # a batch per partition up to 256 KiB (aiokafka's default is 16 KiB): a unit of work that sends
        # thousands of events (routing's batch, a relay pass) makes a few produce requests, not hundreds;
        # with linger_ms=0 nothing waits for a batch to fill. Below the broker's 1 MiB message.max.bytes.
        max_batch_size=256 * 1024,
        logger=logging.getLogger(f"popflow.{service}.kafka"),
        # FastStream's per-message "Received/Processed" lines only at DEBUG: handlers log
        # one line per handled event themselves, with the event's context bound
        log_level=logging.DEBUG,
    )


def aiokafka_producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The started aiokafka producer behind the broker, None under the test broker or before start.

    FastStream 0.7 keeps it at `config.producer._producer.producer` (not public API):
    a FastStream upgrade that moves it only sends events the slower way, through `publish`
    (as does a test's stand-in broker, which has no `config`).
    """
    config = getattr(broker, "config", None)
    state = getattr(getattr(config, "producer", None), "_producer", None)
    producer = getattr(state, "producer", None)
    return producer if isinstance(producer, AIOKafkaProducer) else None


# The most of a message's body a dead letter keeps: sealed, it grows by a third (base64), and Kafka takes
# 1 MiB a message. A message up to 1 MiB came in, so a dead letter of it whole would be refused, and the
# message retried for ever instead of set aside; its first 600 KiB are kept, and where the whole lies.
DEAD_LETTER_BODY_MAX = 600 * 1024


def dead_letter_publisher(broker: KafkaBroker, topics: TopicNames, keyring: Keyring) -> Publish:
    """Publishes to the dead-letter topic, the body sealed (it may hold personal data in clear); a body over
    DEAD_LETTER_BODY_MAX is cut there, its whole length in the `truncated_from` header."""

    async def publish(body: bytes, headers: dict[str, str]) -> None:
        if len(body) > DEAD_LETTER_BODY_MAX:
            headers = {**headers, TRUNCATED_HEADER: str(len(body))}
            body = body[:DEAD_LETTER_BODY_MAX]
        sealed = seal_dead_letter(keyring, body, headers)
        await broker.publish(sealed, topics(DEAD_LETTER), headers={**headers, "sealed": SEALED_HEADER})

    return publish


def dead_letters_for(broker: KafkaBroker, topics: TopicNames, keyring: Keyring) -> DeadLetters:
    return DeadLetters(dead_letter_publisher(broker, topics, keyring))


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
