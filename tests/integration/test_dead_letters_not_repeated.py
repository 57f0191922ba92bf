"""A dead letter Kafka took is not sent again when a later one of its batch is refused (real Kafka).

A subscriber's batch, and reporting's fold's, failed when Kafka refused one of
its dead letters, and was read again from its start: every dead letter taken
before the refusal went out again with each round, repeats on the dead-letter
topic that `popflow dead-letters show` folded into "set aside N times". The
batch is now read again from each partition's first message not done, that
offset committed. The same in memory: tests/unit/test_dead_letters_not_repeated.py
and tests/unit/test_fold_dead_letter_refused.py.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from faststream.kafka import KafkaBroker

from services.reporting.adapters.fold_set_aside import SET_ASIDE_TRIES
from shared.events import Envelope, Event
from shared.kafka.admin import ensure_topics
from shared.kafka.broker import dead_letter_publisher
from shared.kafka.consuming import subscribe, subscribe_batch
from shared.kafka.failures import DeadLetters, PermanentFailure, Publish, open_dead_letter
from shared.topics import DEAD_LETTER, RECORDS_SUBMITTED, TopicNames
from tests.integration.test_reporting_poison import rejection
from tests.support import kafka
from tests.support.infra import TEST_KEYRING, kafka_bootstrap, kafka_connection, unique_name
from tests.support.records import record
from tests.support.reporting import FakeClock, reporting_harness
from tests.support.waiting import eventually

NAMES = ("good0", "bad1", "junk2", "good3", "bad4", "good5")  # one partition, in this order


class Refusing:
    """The dead-letter topic, refusing the dead letter whose body is `refused` its first `times` tries."""

    def __init__(self, publish: Publish, refused: bytes, times: int) -> None:
        self._publish, self.refused, self.times = publish, refused, times

    async def publish(self, body: bytes, headers: dict[str, str]) -> None:
        if body == self.refused and self.times:
            self.times -= 1
            raise PermissionError("the dead-letter topic refuses")  # not authorised, say
        await self._publish(body, headers)


def message(name: str) -> bytes:
    if name.startswith("junk"):
        return b"junk"
    sequence = NAMES.index(name) + 1
    return kafka.submitted(record(sequence=sequence), record_id=name).model_dump_json().encode()


@pytest.mark.parametrize("batches", [False, True], ids=["subscribe", "subscribe_batch"])
async def test_a_subscriber_sends_each_dead_letter_once_though_a_later_one_of_its_batch_was_refused(
    batches: bool,
) -> None:
    topics = TopicNames(unique_name("norepeat.") + ".")
    await ensure_topics(kafka_connection(), topics.all(), partitions=1, replication=1)
    handled: list[str] = []

    async def one(envelope: Envelope, _: Event) -> None:
        if envelope.correlation_id.startswith("bad"):
            raise PermanentFailure("can never be handled")
        handled.append(envelope.correlation_id)

    async def many(events: list[tuple[Envelope, Event]]) -> None:
        if any(envelope.correlation_id.startswith("bad") for envelope, _ in events):
            raise PermanentFailure("can never be handled")
        handled.extend(envelope.correlation_id for envelope, _ in events)

    broker, bodies = KafkaBroker(kafka_bootstrap()), {name: message(name) for name in NAMES}
    refusing = Refusing(dead_letter_publisher(broker, topics, TEST_KEYRING), bodies["bad4"], times=2)
    sink = DeadLetters(refusing.publish, retry_pause_s=0.2)
    if batches:
        subscribe_batch(
            broker,
            topics,
            topic=RECORDS_SUBMITTED,
            group="norepeat",
            handler=many,
            keyring=TEST_KEYRING,
            dead_letters=sink,
        )
    else:
        subscribe(
            broker,
            topics,
            topic=RECORDS_SUBMITTED,
            group="norepeat",
            handler=one,
            keyring=TEST_KEYRING,
            dead_letters=sink,
        )
    # all on the topic before the consumer starts: its first poll brings them in one batch
    await kafka.publish_raw(kafka_bootstrap(), topics(RECORDS_SUBMITTED), [("one", bodies[n]) for n in NAMES])
    await broker.start()
    try:
        group, read = topics("norepeat"), [topics(RECORDS_SUBMITTED)]
        assert await eventually(lambda: kafka.caught_up(kafka_bootstrap(), group, read))
    finally:
        await broker.stop()
    letters = await kafka.read_raw(kafka_bootstrap(), topics(DEAD_LETTER))

    assert refusing.times == 0  # refused twice: the batch failed and was read again twice
    # each once, in the order of their messages: none of those taken before the refusals went out again
    assert [(headers["source_offset"], open_dead_letter(TEST_KEYRING, body, headers)) for body, headers in letters] == [
        ("1", bodies["bad1"]),
        ("2", b"junk"),
        ("4", bodies["bad4"]),
    ]
    assert handled == ["good0", "good3", "good5"]  # nothing skipped, nothing before the refusal handled again


async def test_the_fold_sends_each_dead_letter_once_though_a_later_one_of_its_batch_was_refused() -> None:
    async with reporting_harness(FakeClock(datetime.now(UTC))) as harness:
        prefix, runtime = harness.settings.topic_prefix, harness.app.state.runtime
        first, second = rejection("canvass\x00"), rejection("school\x00")  # values PostgreSQL refuses
        publish = dead_letter_publisher(runtime.broker, runtime.topics, TEST_KEYRING)
        refusing = Refusing(publish, second, times=2 * SET_ASIDE_TRIES)  # two rounds of the batch
        harness.reporting.fold._dead_letters = DeadLetters(refusing.publish)
        bodies = [rejection("canvass"), first, rejection("canvass"), second, rejection("school")]
        await asyncio.gather(*[await harness.producer.send(prefix + "records.rejected", b, key=b"one") for b in bodies])
        read = [prefix + "records.rejected"]
        assert await eventually(lambda: kafka.caught_up(kafka_bootstrap(), prefix + "reporting", read))
        assert not runtime.background.dead()
        letters = await kafka.read_raw(kafka_bootstrap(), prefix + DEAD_LETTER)
    assert refusing.times == 0
    # each once; the dead-letter topic's partitions give them in either order
    assert sorted(open_dead_letter(TEST_KEYRING, body, headers) for body, headers in letters) == sorted([first, second])
    assert harness.reporting.fold.folded == len(bodies)  # each counted once
