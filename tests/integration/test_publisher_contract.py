"""One contract, two adapters: the Kafka publisher and the unit tier's fake behave alike.

Published envelopes come back unchanged, in order for one key, keyed as given.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from faststream.kafka import KafkaBroker

from shared.events import Envelope, RecordRouted, Route, new_envelope
from shared.kafka.admin import ensure_topics
from shared.kafka.broker import EventPublisher, KafkaEventPublisher
from shared.topics import TopicNames
from tests.support.fakes import RecordingPublisher
from tests.support.infra import TEST_KEYRING, kafka_connection, unique_name
from tests.support.kafka import read_topic

ReadBack = Callable[[int], Awaitable[list[tuple[str, Envelope]]]]


def envelopes(count: int) -> list[Envelope]:
    return [
        new_envelope(
            RecordRouted(
                record_id=f"r{i}",
                route=Route.CROSS_STREET,
                reporting_street="440111005",
                residence_street="440111008",
                observed_at=datetime(2027, 2, 24, tzinfo=UTC),
                decided_at=datetime(2027, 2, 24, tzinfo=UTC),
            ),
            producer="contract",
            correlation_id=f"r{i}",
            keyring=TEST_KEYRING,
        )
        for i in range(count)
    ]


@pytest.fixture(params=["fake", "kafka"])
async def adapter(request: pytest.FixtureRequest) -> AsyncIterator[tuple[EventPublisher, ReadBack]]:
    if request.param == "fake":
        fake = RecordingPublisher()

        async def read_fake(_: int) -> list[tuple[str, Envelope]]:
            return [(key, envelope) for _, key, envelope in fake.published]

        yield fake, read_fake
        return
    topics = TopicNames(unique_name("contract.") + ".")
    kafka = kafka_connection()
    await ensure_topics(kafka, topics.all(), partitions=3, replication=1)
    broker = KafkaBroker(kafka.bootstrap, security=kafka.security(), enable_idempotence=True, acks="all")
    await broker.connect()

    async def read_kafka(count: int) -> list[tuple[str, Envelope]]:
        messages = await read_topic(topics(RecordRouted.TOPIC), at_least=count)
        return [(m.key.decode(), Envelope.model_validate_json(m.value)) for m in messages]

    try:
        yield KafkaEventPublisher(broker, topics), read_kafka
    finally:
        await broker.stop()


async def test_envelopes_come_back_unchanged_and_in_order(adapter: tuple[EventPublisher, ReadBack]) -> None:
    publisher, read_back = adapter
    sent = envelopes(5)
    key = uuid.uuid4().hex
    for envelope in sent:
        await publisher.publish(envelope, topic=RecordRouted.TOPIC, key=key)
    received = await read_back(len(sent))
    assert [envelope for _, envelope in received] == sent
    assert {k for k, _ in received} == {key}
