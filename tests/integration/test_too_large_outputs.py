"""An event whose effects Kafka refuses as too large is set aside, not retried for ever, on real Kafka.

A handler that publishes what it decided (routing's emitter) may make an event
larger than a topic takes (its max.message.bytes). Sent again, it is as large:
retried, its batch would come back for ever and hold every later event of its
partition. The batch is handled again one event at a time; the event whose
effect is refused is dead-lettered, the others' effects are published.
"""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker

from services.routing.adapters.emitter import KafkaEmitter, Outgoing
from shared.events import Envelope, Event
from shared.kafka.admin import ensure_topics
from shared.kafka.consuming import subscribe_batch
from shared.topics import DEAD_LETTER, RECORDS_SUBMITTED, TopicNames
from tests.support import kafka
from tests.support.infra import TEST_KEYRING, kafka_bootstrap, kafka_connection, unique_name
from tests.support.records import record

OUT = "too.large.out"
LIMIT = 4096  # the out topic's max.message.bytes
LARGE = 3  # the record whose effect is over it


async def test_the_event_whose_effect_is_too_large_is_dead_lettered_and_the_others_go_on() -> None:
    topics = TopicNames(unique_name("large.") + ".")
    connection = kafka_connection()
    await ensure_topics(connection, [topics(RECORDS_SUBMITTED), topics(DEAD_LETTER)], partitions=1, replication=1)
    await ensure_topics(
        connection, [topics(OUT)], partitions=1, replication=1, configs={topics(OUT): {"max.message.bytes": str(LIMIT)}}
    )
    broker = KafkaBroker(kafka_bootstrap())
    emitter = KafkaEmitter(broker, topics)
    tries: list[int] = []

    async def handler(batch: list[tuple[Envelope, Event]]) -> None:
        tries.append(len(batch))
        outgoing = []
        for envelope, _ in batch:
            body: dict[str, Any] = envelope.model_dump(mode="json")
            if envelope.correlation_id == f"r{LARGE}":
                body["padding"] = "x" * (2 * LIMIT)
            outgoing.append(Outgoing(body, OUT, envelope.correlation_id))
        await emitter.emit(outgoing)

    subscribe_batch(broker, topics, topic=RECORDS_SUBMITTED, group="large", handler=handler, keyring=TEST_KEYRING)
    messages = [
        (f"k{n}", kafka.submitted(record(sequence=n), record_id=f"r{n}").model_dump_json().encode())
        for n in range(1, 6)
    ]
    await kafka.publish_raw(kafka_bootstrap(), topics(RECORDS_SUBMITTED), messages)
    await broker.start()
    try:
        dead = await kafka.read_topic(topics(DEAD_LETTER), at_least=1, within=60)
        published = await kafka.read_topic(topics(OUT), at_least=4, within=60)
    finally:
        await broker.stop()
    assert len(dead) == 1
    headers = {name: value.decode() for name, value in dead[0].headers}
    assert (headers["source_offset"], headers["error_type"]) == (str(LARGE - 1), "MessageSizeTooLargeError")
    assert sorted(message.key for message in published) == [b"r1", b"r2", b"r4", b"r5"]
    assert len(tries) < 20  # handled as a batch, then each alone: not retried for ever
