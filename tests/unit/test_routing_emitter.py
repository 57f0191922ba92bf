"""The routing emitter picks partitions itself (remembering each key's hash): it must pick
the partition aiokafka's default partitioner picks, or one person's events could split."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import cast

import pydantic_core
import pytest
from aiokafka.errors import KafkaTimeoutError, OutOfOrderSequenceNumber
from aiokafka.partitioner import DefaultPartitioner
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.routing.adapters.emitter import KafkaEmitter, Outgoing, _KafkaPublication, encoded
from shared.events import RecordRouted, Route, envelope_json
from shared.kafka.direct import DirectSender, partition_of
from shared.kafka.renewal import Settling
from shared.topics import TopicNames


def test_a_key_goes_where_the_default_partitioner_sends_it() -> None:
    keys = [secrets.token_hex(32).encode() for _ in range(300)] + [b"", b"a", b"ab", b"abc", "人".encode()]
    for count in (1, 3, 6, 7, 50):
        partitions = list(range(count))
        for key in keys:
            assert partition_of(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


async def test_under_the_test_broker_events_go_through_publish_with_the_same_headers() -> None:
    broker, topics = KafkaBroker(), TopicNames("t.")
    received: list[tuple[dict[str, object], dict[str, str]]] = []

    @broker.subscriber(topics(RecordRouted.TOPIC))
    async def on_routed(body: dict[str, object], message: KafkaMessage) -> None:
        received.append((body, dict(message.headers)))

    event = RecordRouted(
        record_id="r-1",
        route=Route.SAME_DISTRICT,
        reporting_street="440111005",
        residence_street="440111005",
        observed_at=datetime(2027, 3, 1, tzinfo=UTC),
        decided_at=datetime(2027, 3, 1, tzinfo=UTC),
    )
    body = envelope_json(event, producer="routing", correlation_id="r-1")
    async with TestKafkaBroker(broker):
        await KafkaEmitter(broker, topics).emit([Outgoing(body, RecordRouted.TOPIC, "person-a")])

    assert len(received) == 1
    got, headers = received[0]
    assert got == body
    assert {name: headers.get(name) for name in ("correlation_id", "event_type", "event_id")} == {
        "correlation_id": "r-1",
        "event_type": RecordRouted.TYPE,
        "event_id": body["event_id"],
    }


def test_the_body_is_encoded_byte_for_byte_as_pydantics_encoder_would() -> None:
    """FastStream encodes with pydantic's `to_json`; the emitter's orjson must write the same bytes,
    for the JSON-ready envelopes it is given and for a stray datetime, float or non-ASCII text alike."""
    event = RecordRouted(
        record_id="r-1",
        route=Route.CROSS_STREET,
        reporting_street="440111005",
        residence_street="440111002",
        observed_at=datetime(2027, 3, 1, 9, 30, 15, 123456, tzinfo=UTC),
        decided_at=datetime(2027, 3, 1, tzinfo=UTC),
    )
    body = envelope_json(event, producer="routing", correlation_id="同德-1")
    stray = body | {"at": datetime(2027, 3, 1, 9, tzinfo=UTC), "ratio": 0.1, "note": '核实在住\n"引号"'}
    for value in (body, stray):
        assert encoded(value) == pydantic_core.to_json(value)


class Sends:
    """A sender whose sends stay pending until the test ends them; the `fail_at`-th send raises."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.futures: list[asyncio.Future[None]] = []
        self._fail_at = fail_at
        self.failures: list[tuple[str, bytes, BaseException]] = []  # what `DirectSender.failed` was told
        self.settling = Settling(None)  # no producer: no new id is ever wanted

    async def send(self, topic: str, key: bytes, envelope: dict[str, object], body: bytes) -> object:
        if len(self.futures) + 1 == self._fail_at:
            raise KafkaTimeoutError()
        self.futures.append(asyncio.get_running_loop().create_future())
        return self.futures[-1]

    def failed(self, topic: str, key: bytes, error: BaseException, *, generation: int | None = None) -> None:
        self.failures.append((topic, key, error))

    def taken(self, sends: Iterable[tuple[str, bytes]]) -> None:
        return None

    def publication(self) -> _KafkaPublication:
        return _KafkaPublication(cast(DirectSender, self), TopicNames("t."))

    def fail_all(self) -> None:
        for future in self.futures:
            future.set_exception(KafkaTimeoutError())


EVENTS = [Outgoing({"type": RecordRouted.TYPE, "event_id": "e", "correlation_id": "r"}, RecordRouted.TOPIC, "a")] * 3


@contextlib.asynccontextmanager
async def never_retrieved() -> AsyncIterator[list[dict[str, object]]]:
    """What the loop reports as 'Future exception was never retrieved' by the end of the block
    (the block drops its futures; they are collected, and reported if unretrieved)."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        yield reported
        await asyncio.sleep(0)  # the done callbacks run
        gc.collect()
    finally:
        loop.set_exception_handler(None)


async def test_an_abandoned_publication_leaves_no_failed_send_unretrieved() -> None:
    """A batch that fails after handing events over comes again; its sends that then fail are not
    logged as 'Future exception was never retrieved' on top of the batch's own error."""
    async with never_retrieved() as reported:
        sends = Sends()
        publication = sends.publication()
        await publication.hand_over(EVENTS)
        publication.abandon()
        sends.fail_all()
        del sends, publication
    assert reported == []


async def test_sends_a_failed_confirmation_did_not_reach_are_left_retrieved_once_abandoned() -> None:
    """The first failed send stops the confirmation; the sends after it, failing too, are retrieved
    once the batch is abandoned."""
    async with never_retrieved() as reported:
        sends = Sends()
        publication = sends.publication()
        await publication.hand_over(EVENTS)
        sends.fail_all()
        with pytest.raises(KafkaTimeoutError):
            await publication.confirmed()
        publication.abandon()
        del sends, publication
    assert reported == []


async def test_sends_made_before_a_hand_over_failed_are_left_retrieved_once_abandoned() -> None:
    async with never_retrieved() as reported:
        sends = Sends(fail_at=3)
        publication = sends.publication()
        with pytest.raises(KafkaTimeoutError):
            await publication.hand_over(EVENTS)
        publication.abandon()
        sends.fail_all()
        del sends, publication
    assert reported == []


async def test_a_failed_confirmation_is_told_to_the_sender_with_its_topic_and_key() -> None:
    """The sender learns of a send the broker refused (the producer takes a new id at the next hand-over)."""
    sends = Sends()
    publication = sends.publication()
    events = [Outgoing(EVENTS[0].body, RecordRouted.TOPIC, key) for key in ("a", "b", "c")]
    await publication.hand_over(events)
    sends.futures[0].set_result(None)
    refused = OutOfOrderSequenceNumber()
    sends.futures[1].set_exception(refused)
    with pytest.raises(OutOfOrderSequenceNumber):
        await publication.confirmed()
    assert sends.failures == [(f"t.{RecordRouted.TOPIC}", b"b", refused)]
    publication.abandon()
    sends.futures[2].set_exception(KafkaTimeoutError())


async def test_sends_of_an_abandoned_publication_that_fail_later_are_told_to_the_sender_once_each() -> None:
    """A unit of work that failed otherwise (its database) gives up on its sends; one the broker refuses after
    that still asks for the producer's new id. The send a confirmation reported is not told twice."""
    sends = Sends()
    publication = sends.publication()
    events = [Outgoing(EVENTS[0].body, RecordRouted.TOPIC, key) for key in ("a", "b", "c")]
    await publication.hand_over(events)
    first = OutOfOrderSequenceNumber()
    sends.futures[0].set_exception(first)
    with pytest.raises(OutOfOrderSequenceNumber):
        await publication.confirmed()
    publication.abandon()
    later = OutOfOrderSequenceNumber()
    sends.futures[1].set_exception(later)
    sends.futures[2].set_result(None)
    await asyncio.sleep(0)  # the done callbacks run
    assert sends.failures == [(f"t.{RecordRouted.TOPIC}", b"a", first), (f"t.{RecordRouted.TOPIC}", b"b", later)]
