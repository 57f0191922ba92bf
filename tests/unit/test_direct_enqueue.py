"""A direct send hands its message to aiokafka's batch for the partition, as `send` would (shared/kafka/direct.py).

On producers never started: the message lands in the accumulator's batch for its partition and waits there.
Real Kafka's side (the broker takes the batches, a message over the limit is set aside) is in
tests/integration/test_poison_messages.py and test_routing_fast_paths.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.record.default_records import DefaultRecordBatch
from aiokafka.structs import TopicPartition
from faststream.kafka import KafkaBroker

from shared.kafka.direct import DirectSender, json_headers, partition_of
from tests.support.producers import behind_every_broker, never_started

pytestmark = pytest.mark.unit

TOPIC = "test.records.routed"
PARTITIONS = [0, 1, 2, 3, 4, 5]


def envelope(event_id: str) -> dict[str, Any]:
    return {"event_id": event_id, "type": "RecordRouted", "correlation_id": "r-1", "payload": {}}


def sender_on(monkeypatch: pytest.MonkeyPatch, producer: AIOKafkaProducer) -> DirectSender:
    monkeypatch.setattr(producer, "_closed", False)  # as a started one reads; undone after (no "Unclosed" warning)
    behind_every_broker(monkeypatch, producer)
    sender = DirectSender(KafkaBroker())
    sender._partitions[TOPIC] = PARTITIONS  # as `partitions_for` answered: no metadata wanted
    return sender


def queued(producer: AIOKafkaProducer, partition: int) -> list[Any]:
    return list(producer._message_accumulator._batches.get(TopicPartition(TOPIC, partition), []))


async def test_a_send_lands_in_its_partitions_batch_with_its_key_and_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = never_started(enable_idempotence=True, acks="all")
    sender = sender_on(monkeypatch, producer)
    body = envelope("e-1")
    future = await sender.send(TOPIC, b"person-a", body, b'{"event_id":"e-1"}')
    partition = partition_of(b"person-a", PARTITIONS)
    [batch] = queued(producer, partition)
    assert batch.record_count == 1
    assert not future.done()  # confirmed once the broker has the batch
    records = list(_records(batch))
    assert [(r.key, r.value) for r in records] == [(b"person-a", b'{"event_id":"e-1"}')]
    assert [(k, v) for k, v in records[0].headers] == json_headers(body)
    assert all(not queued(producer, p) for p in PARTITIONS if p != partition)


async def test_one_persons_sends_stay_in_order_in_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = never_started(enable_idempotence=True, acks="all")
    sender = sender_on(monkeypatch, producer)
    for n in range(5):
        await sender.send(TOPIC, b"person-a", envelope(f"e-{n}"), f"body-{n}".encode())
    [batch] = queued(producer, partition_of(b"person-a", PARTITIONS))
    assert [r.value for r in _records(batch)] == [f"body-{n}".encode() for n in range(5)]


async def test_a_message_over_the_producers_limit_is_refused_before_it_is_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    producer = never_started(enable_idempotence=True, acks="all", max_request_size=2000)
    sender = sender_on(monkeypatch, producer)
    with pytest.raises(MessageSizeTooLargeError):
        await sender.send(TOPIC, b"person-a", envelope("e-1"), b"x" * 3000)
    assert all(not queued(producer, p) for p in PARTITIONS)
    await sender.send(TOPIC, b"person-a", envelope("e-2"), b"x" * 1000)  # under the limit: queued
    assert queued(producer, partition_of(b"person-a", PARTITIONS))


async def test_a_producer_without_the_parts_sends_through_send(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another aiokafka, whose producer keeps its batches elsewhere: the message goes through `send` all the same."""
    producer = never_started(enable_idempotence=True, acks="all")
    sent: list[tuple[str, bytes, bytes, int, list[tuple[str, bytes]]]] = []

    async def send(topic: str, value: bytes, *, key: bytes, partition: int, headers: list[tuple[str, bytes]]) -> str:
        sent.append((topic, value, key, partition, headers))
        return "future"

    monkeypatch.delattr(producer, "_message_accumulator")
    monkeypatch.setattr(producer, "send", send)
    sender = sender_on(monkeypatch, producer)
    assert await sender.send(TOPIC, b"person-a", envelope("e-1"), b"body") == "future"
    assert sent == [(TOPIC, b"body", b"person-a", partition_of(b"person-a", PARTITIONS), json_headers(envelope("e-1")))]


def _records(batch: Any) -> Any:
    """The records of a batch not yet sent, read back from the bytes it would send."""
    return iter(DefaultRecordBatch(bytearray(batch._builder._build())))
