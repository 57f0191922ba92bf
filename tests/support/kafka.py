"""Publishing envelopes straight to a topic, and reading a topic back, for tests and benchmarks.

Straight to Kafka (not through intake) because some tests need records
intake would refuse (codes outside the directory) and some need thousands
of them quickly.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from shared.events import CaseRecord, Envelope, RecordRouted, RecordSubmitted, Route, new_envelope
from shared.events.envelope import sealed_payload
from shared.kafka.replay import partitions_of
from tests.support.infra import TEST_KEYRING, kafka_at, kafka_bootstrap, kafka_options

ROUTED_AT = datetime(2027, 2, 24, 2, 30, tzinfo=UTC)


def routed_event(at: datetime = ROUTED_AT) -> RecordRouted:
    """A small RecordRouted of record r1 (cross-street in Baiyun), observed and decided `at`."""
    return RecordRouted(
        record_id="r1",
        route=Route.CROSS_STREET,
        reporting_street="440111005",
        residence_street="440111008",
        observed_at=at,
        decided_at=at,
    )


def submitted(record: dict[str, Any], *, record_id: str | None = None) -> Envelope:
    """The RecordSubmitted envelope intake would publish for `record` (a tests.support.records body)."""
    record_id = record_id or str(uuid.uuid4())
    event = RecordSubmitted(
        record_id=record_id, received_at=datetime.now(UTC), record=CaseRecord.model_validate(record)
    )
    return new_envelope(event, producer="intake", correlation_id=record_id, keyring=TEST_KEYRING)


def unchecked_submitted(record: dict[str, Any], *, record_id: str | None = None) -> Envelope:
    """Like `submitted`, but without validating the record: codes outside the directory pass."""
    record_id = record_id or str(uuid.uuid4())
    payload = {"record_id": record_id, "received_at": datetime.now(UTC).isoformat(), "record": record}
    event_id = uuid.uuid4()
    return Envelope(
        event_id=event_id,
        type=RecordSubmitted.TYPE,
        version=RecordSubmitted.VERSION,
        occurred_at=datetime.now(UTC),
        producer="intake",
        correlation_id=record_id,
        payload=sealed_payload(RecordSubmitted, payload, event_id=event_id, keyring=TEST_KEYRING),
    )


async def publish(bootstrap: str, topic: str, envelopes: Iterable[Envelope]) -> int:
    """Publish every envelope (keyed by correlation id), waiting for all acknowledgements."""
    return await publish_raw(bootstrap, topic, ((e.correlation_id, e.model_dump_json().encode()) for e in envelopes))


async def publish_raw(bootstrap: str, topic: str, messages: Iterable[tuple[str, bytes]]) -> int:
    """Publish (key, value) pairs as they are, waiting for all acknowledgements."""
    producer = AIOKafkaProducer(**kafka_options(bootstrap), linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key.encode()) for key, value in messages]
        for future in futures:
            await future
        return len(futures)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every message of `topic` up to its current end, as decoded envelopes."""
    return [
        Envelope.model_validate_json(value).model_dump(mode="json") for value, _ in await read_raw(bootstrap, topic)
    ]


async def read_raw(bootstrap: str, topic: str) -> list[tuple[bytes, dict[str, str]]]:
    """Every message of `topic` up to its current end: body and headers."""
    return [(body, headers) for _, body, headers in await read_placed(bootstrap, topic)]


async def read_placed(bootstrap: str, topic: str) -> list[tuple[int, bytes, dict[str, str]]]:
    """Every message of `topic` up to its current end: its partition, body and headers."""
    partitions = await partitions_of(kafka_at(bootstrap), [topic])
    consumer = AIOKafkaConsumer(
        **kafka_options(bootstrap), enable_auto_commit=False, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        end = await consumer.end_offsets(partitions)
        # explicit offsets: seek_to_beginning right after assign() was seen to land at the end
        for tp, offset in (await consumer.beginning_offsets(partitions)).items():
            consumer.seek(tp, offset)
        messages: list[tuple[int, bytes, dict[str, str]]] = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for tp, batch in (await consumer.getmany(timeout_ms=1000, max_records=5000)).items():
                messages += [(tp.partition, m.value, _headers(m.headers)) for m in batch if m.offset < end[tp]]
        return messages
    finally:
        await consumer.stop()


def _headers(raw: Any) -> dict[str, str]:
    return {name: value.decode(errors="replace") for name, value in raw or ()}


async def caught_up(bootstrap: str, group: str, topics: list[str]) -> bool:
    """True once `group` has committed offsets at the end of every partition of `topics`."""
    partitions = [tp for t in topics for tp in await partitions_of(kafka_at(bootstrap), [t])]
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap))
    consumer = AIOKafkaConsumer(**kafka_options(bootstrap), group_id=None)
    await admin.start()
    await consumer.start()
    try:
        end = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        return all(end[tp] == 0 or (tp in committed and committed[tp].offset >= end[tp]) for tp in partitions)
    finally:
        await consumer.stop()
        await admin.close()


async def publish_one(
    topic: str,
    value: bytes,
    *,
    key: bytes | None = None,
    headers: dict[str, str] | None = None,
    partition: int | None = None,
) -> None:
    """One message of arbitrary bytes (poison messages for failure-policy tests), to `partition` if given."""
    producer = AIOKafkaProducer(**kafka_options(kafka_bootstrap()), enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value, key=key, partition=partition, headers=[(k, v.encode()) for k, v in (headers or {}).items()]
        )
    finally:
        await producer.stop()


async def read_topic(topic: str, *, at_least: int, within: float = 30) -> list[Any]:
    """Every message of `topic` from the beginning, once at least `at_least` have arrived."""
    consumer = AIOKafkaConsumer(
        topic,
        **kafka_options(kafka_bootstrap()),
        group_id=f"test-reader-{secrets.token_hex(4)}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    messages: list[Any] = []
    try:
        async with asyncio.timeout(within):
            while len(messages) < at_least:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    messages.extend(records)
        for records in (await consumer.getmany(timeout_ms=300)).values():
            messages.extend(records)
    finally:
        await consumer.stop()
    return messages
