"""The outbox relay hands rows straight to aiokafka: the same bytes, headers and partition as FastStream's publish."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import SQLModel

from services.intake.adapters.tables import OutboxRow
from shared.db import build_engine, session_factory
from shared.db.outbox import OutboxRelay
from shared.kafka.admin import ensure_topics
from shared.kafka.broker import aiokafka_producer
from shared.topics import TopicNames
from tests.support.infra import kafka_at, kafka_bootstrap, unique_name
from tests.support.kafka import read_placed

TOPIC = "test.events"


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/outbox.db")
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: SQLModel.metadata.tables["outbox"].create(sync))
    yield session_factory(engine)
    await engine.dispose()


def envelope(key: str, number: int) -> dict[str, Any]:
    payload = {"n": number, "name": "Zoë 人", "ratio": 0.1 * number, "none": None, "list": [1, "two"]}
    return {"event_id": str(uuid.uuid4()), "type": "Test", "correlation_id": f"r-{number}", "payload": payload}


async def read(topic: str) -> dict[str, tuple[int, bytes, dict[str, str]]]:
    """Every message of `topic` by event id: partition, body, headers."""
    return {
        headers["event_id"]: (partition, body, headers)
        for partition, body, headers in await read_placed(kafka_bootstrap(), topic)
    }


async def test_the_relay_sends_what_faststreams_publish_sent(sessions: async_sessionmaker[AsyncSession]) -> None:
    direct, published = TopicNames(f"{unique_name('relay')}."), TopicNames(f"{unique_name('publish')}.")
    await ensure_topics(kafka_at(kafka_bootstrap()), [direct(TOPIC), published(TOPIC)], partitions=3, replication=1)
    rows = [(f"person-{number % 5}", envelope(f"person-{number % 5}", number)) for number in range(20)]
    async with sessions.begin() as session:
        now = datetime.now(UTC)
        session.add_all([OutboxRow(topic=TOPIC, key=key, envelope=body, created_at=now) for key, body in rows])
    broker = KafkaBroker(kafka_bootstrap(), enable_idempotence=True, acks="all")
    await broker.start()
    try:
        assert aiokafka_producer(broker) is not None, "the relay sends on the broker's aiokafka producer"
        assert await OutboxRelay(sessions, broker, direct, OutboxRow).deliver_pending() == len(rows)
        for key, body in rows:  # what the relay sent before: FastStream's publish
            await broker.publish(
                body,
                published(TOPIC),
                key=key.encode(),
                headers={"event_type": body["type"], "event_id": body["event_id"]},
                correlation_id=body["correlation_id"],
            )
    finally:
        await broker.stop()
    relayed, expected = await read(direct(TOPIC)), await read(published(TOPIC))
    assert len(expected) == len(rows)
    assert relayed == expected
    assert len({partition for partition, _, _ in relayed.values()}) > 1  # the keys did spread
