"""A subscriber off the latency path lets the broker fill its fetches, on real Kafka.

Messages published a few tens of milliseconds apart reach a subscriber that
reads as soon as anything is there one or two at a time; with
`fill_wait_ms` the broker holds each fetch, and the handler gets them in one
or two batches. Intake's route subscriber and reporting's fold wait; intake's
notice-recipient subscriber must not (an office opens the record as soon as
the push arrives).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from services.intake.entrypoints.kafka import register_consumers
from shared.events import Envelope, Event
from shared.kafka.admin import ensure_topics
from shared.kafka.consuming import FILL_BYTES, FILL_WAIT_MS, subscribe_batch
from shared.topics import RECORDS_SUBMITTED, TopicNames
from tests.support import kafka
from tests.support.infra import TEST_KEYRING, kafka_bootstrap, kafka_connection, kafka_options, unique_name
from tests.support.records import record
from tests.support.waiting import eventually

SPACED_S, COUNT = 0.03, 10


async def batches_seen(fill_wait_ms: int | None) -> list[int]:
    """The sizes of the batches a subscriber got for COUNT messages published SPACED_S apart."""
    topics = TopicNames(unique_name("fill.") + ".")
    await ensure_topics(kafka_connection(), [topics(RECORDS_SUBMITTED)], partitions=1, replication=1)
    sizes: list[int] = []

    async def handler(batch: list[tuple[Envelope, Event]]) -> None:
        sizes.append(len(batch))

    broker = KafkaBroker(kafka_bootstrap())
    subscribe_batch(
        broker,
        topics,
        topic=RECORDS_SUBMITTED,
        group="fill",
        handler=handler,
        keyring=TEST_KEYRING,
        fill_wait_ms=fill_wait_ms,
    )
    bodies = [kafka.submitted(record(sequence=n)).model_dump_json().encode() for n in range(COUNT + 1)]
    await broker.start()
    try:
        await kafka.publish_raw(kafka_bootstrap(), topics(RECORDS_SUBMITTED), [("k", bodies[0])])
        await eventually(lambda: sizes)  # assigned and reading: the warm-up message is in
        sizes.clear()
        producer = AIOKafkaProducer(**kafka_options(kafka_bootstrap()))
        await producer.start()
        try:
            for body in bodies[1:]:
                await producer.send_and_wait(topics(RECORDS_SUBMITTED), body, key=b"k")
                await asyncio.sleep(SPACED_S)
        finally:
            await producer.stop()
        await eventually(lambda: sum(sizes) >= COUNT)
    finally:
        await broker.stop()
    return sizes


async def test_a_subscriber_that_may_wait_gets_spaced_messages_in_one_or_two_batches() -> None:
    assert len(await batches_seen(fill_wait_ms=2000)) <= 2


async def test_a_subscriber_that_reads_at_once_gets_them_as_they_come() -> None:
    assert len(await batches_seen(fill_wait_ms=None)) >= 3  # the control: the spacing is wide enough


def consumer_options(broker: KafkaBroker) -> dict[str, dict[str, Any]]:
    """What each of FastStream's own subscribers will build its consumer with, by topic (registered only: a
    broker not started connects to nothing)."""
    subscribers = [cast(Any, s) for s in broker.subscribers]
    return {name: s._connection_args for s in subscribers for name in s.topic_names_for_subscribe}


@pytest.mark.parametrize(("topic", "waits"), [("records.routed", True), ("notices.issued", False)])
def test_intake_waits_for_fuller_fetches_of_routes_only(topic: str, waits: bool) -> None:
    broker = KafkaBroker()
    register_consumers(broker, TopicNames("t."), cast(Any, object()), cast(Any, object()), TEST_KEYRING)
    options = consumer_options(broker)[f"t.{topic}"]
    expected = (FILL_BYTES, FILL_WAIT_MS) if waits else (1, 500)
    assert (options["fetch_min_bytes"], options["fetch_max_wait_ms"]) == expected
