"""A broker start that fails half-way and is tried again leaves one consumer per subscriber (real Kafka).

FastStream starts every subscriber at each `broker.start()`, those started by
an attempt before included: each would get a second consumer, and the first
would run on unseen, a second member of its group in the same process.
shared.runtime.start_broker stops what a failed attempt started.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker

from shared.events import Envelope, Event
from shared.kafka.admin import ensure_topics
from shared.kafka.consuming import subscribe
from shared.runtime import start_broker
from shared.topics import RECORDS_ROUTED, RECORDS_SUBMITTED, TopicNames
from tests.support import kafka
from tests.support.infra import TEST_KEYRING, kafka_bootstrap, kafka_connection, kafka_options, unique_name
from tests.support.records import record
from tests.support.waiting import eventually

COUNT = 6


async def group_state(group: str) -> tuple[str, int]:
    """The group's state (Stable, PreparingRebalance, ...) and how many members it has."""
    admin = AIOKafkaAdminClient(**kafka_options(kafka_bootstrap()))
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (described,) = response.groups
    _error, _group, state, _protocol_type, _protocol, members, *_ = described
    return state, len(members)


def fail_once(subscriber: Any) -> list[int]:
    """The subscriber's start raises the first time, as when Kafka goes away between two subscribers' starts."""
    calls: list[int] = []
    start = subscriber.start

    async def start_or_fail() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("Kafka went away")
        await start()

    subscriber.start = start_or_fail
    return calls


async def test_a_start_tried_again_gives_each_subscriber_one_member_of_its_group() -> None:
    topics, handled = TopicNames(unique_name("start.") + "."), list[str]()
    await ensure_topics(kafka_connection(), topics.all(), partitions=2, replication=1)
    bodies = [
        (f"person-{n}", kafka.submitted(record(sequence=n + 1), record_id=f"r{n}").model_dump_json().encode())
        for n in range(COUNT)
    ]
    await kafka.publish_raw(kafka_bootstrap(), topics(RECORDS_SUBMITTED), bodies)
    broker = KafkaBroker(kafka_bootstrap())

    async def handler(envelope: Envelope, _: Event) -> None:
        handled.append(envelope.correlation_id)

    async def ignore(_envelope: Envelope, _event: Event) -> None:
        return None

    subscribe(broker, topics, topic=RECORDS_SUBMITTED, group="first", handler=handler, keyring=TEST_KEYRING)
    subscribe(broker, topics, topic=RECORDS_ROUTED, group="second", handler=ignore, keyring=TEST_KEYRING)
    first, second = (cast(Any, s) for s in broker.subscribers)
    calls = fail_once(second)  # the first starts, the second fails: the next attempt starts both again
    await start_broker(broker)
    try:
        assert len(calls) == 2, "the second subscriber's start was tried again"
        assert await eventually(lambda: len(handled) == COUNT, within=30)

        async def settled() -> bool:
            state, _ = await group_state(topics("first"))
            return state == "Stable"

        assert await eventually(settled, within=30)
        await asyncio.sleep(3)  # a second member joining late would have started a rebalance by now
        assert await eventually(settled, within=30)
        assert (await group_state(topics("first")))[1] == 1, "one consumer for the first subscriber"
        assert sorted(handled) == sorted(set(handled)), "each record handled once"
        # the subscriber stopped after the failed attempt commits again: its new consumer's offsets are taken
        assert await eventually(
            lambda: kafka.caught_up(kafka_bootstrap(), topics("first"), [topics(RECORDS_SUBMITTED)]), within=30
        )
    finally:
        await broker.stop()
    assert first.consumer is None, "stopped, with nothing left running"
