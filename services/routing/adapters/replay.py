"""Reads a topic from its first offset to the end it had when the reading began."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def partitions_of(servers: str, topic: str) -> list[TopicPartition]:
    """The topic's partitions, from the broker (a consumer only knows the topics it subscribed to)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        (description,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(TopicPartition(topic, p["partition"]) for p in description["partitions"])


async def messages_to_end(servers: str, topic: str) -> AsyncIterator[bytes]:
    """Every message value of `topic`, partition by partition order preserved, up to the end seen at the start."""
    partitions = await partitions_of(servers, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers, enable_auto_commit=False, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        if not partitions:
            return
        consumer.assign(partitions)
        end = await consumer.end_offsets(partitions)
        # explicit offsets: seek_to_beginning right after assign() was seen to land at the end
        for tp, offset in (await consumer.beginning_offsets(partitions)).items():
            consumer.seek(tp, offset)
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for tp, batch in (await consumer.getmany(timeout_ms=1000, max_records=500)).items():
                for message in batch:
                    if message.offset < end[tp]:
                        yield message.value
    finally:
        await consumer.stop()
