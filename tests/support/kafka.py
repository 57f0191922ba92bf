"""Direct Kafka access for tests: publish raw bytes, read a topic from the start."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.support.infra import kafka_bootstrap


async def publish_raw(
    topic: str, value: bytes, *, key: bytes | None = None, headers: dict[str, str] | None = None
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value, key=key, headers=[(k, v.encode()) for k, v in (headers or {}).items()]
        )
    finally:
        await producer.stop()


async def read_topic(topic: str, *, at_least: int, within: float = 30) -> list[Any]:
    """Every message of `topic` from the beginning, once at least `at_least` have arrived."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap(),
        group_id=f"test-reader-{secrets.token_hex(4)}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    messages: list[Any] = []
    try:
        async with asyncio.timeout(within):
            while len(messages) < at_least:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    messages.extend(records)
        # anything else already there
        for records in (await consumer.getmany(timeout_ms=300)).values():
            messages.extend(records)
    finally:
        await consumer.stop()
    return messages
