"""Reading a whole topic back, to check what was published (and how often)."""

from __future__ import annotations

import json
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.support.infra import kafka_options


async def read_topic(bootstrap: str, topic: str, partitions: int) -> list[tuple[int, bytes, dict[str, Any]]]:
    """Every message now in `topic` as (partition, key, envelope), in partition order."""
    consumer = AIOKafkaConsumer(**kafka_options(bootstrap), enable_auto_commit=False)
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        messages: list[tuple[int, bytes, dict[str, Any]]] = []
        while [tp for tp in assigned if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                messages += [(tp.partition, r.key, json.loads(r.value)) for r in records]
        return sorted(messages, key=lambda m: m[0])
    finally:
        await consumer.stop()
