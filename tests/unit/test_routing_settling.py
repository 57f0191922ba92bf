"""Routing's emitter and the producer's new id after a refusal (shared.kafka.renewal.Settling), on a producer that
is never started: its sends are futures the test answers, and each send notes whether it left on the first id.

The new id waits for every send out on the old one (another unit of work's, one given up on, one being made), and a
unit of work that sent on the old id confirms that first: a person's later event never leaves on the new id ahead
of an earlier one that was refused. Real Kafka's side is in tests/integration/test_routing_fast_paths.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka.errors import MessageSizeTooLargeError
from faststream.kafka import KafkaBroker

from services.routing.adapters.emitter import KafkaEmitter, Outgoing
from shared.events import RecordRouted
from shared.kafka import renewal
from shared.kafka.refusals import producer_problem
from shared.kafka.renewal import settling_of
from shared.logging import configure_logging
from shared.topics import TopicNames
from tests.support.producers import behind_every_broker, never_started


class Producer:
    """An idempotent aiokafka producer, never started, whose sends the test answers."""

    def __init__(self) -> None:
        self.producer = never_started(enable_idempotence=True)
        self.producer._closed = False  # as a started one reads
        self.producer._txn_manager.set_pid_and_epoch(7, 0)
        self.sent: list[tuple[str, bool]] = []  # each send's key, and whether it left on the first id
        self.futures: list[asyncio.Future[Any]] = []
        self.hold: asyncio.Event | None = None  # a send waits on it, as aiokafka's does when its buffer is full
        self.producer._message_accumulator.add_message = self._add  # where a direct send ends (shared/kafka/direct.py)
        self.producer.partitions_for = self._partitions

    async def _partitions(self, topic: str) -> set[int]:
        return {0}

    async def _add(self, tp: Any, key: bytes, value: bytes, wait_s: float, **_: Any) -> asyncio.Future[Any]:
        if self.hold is not None:
            await self.hold.wait()
        self.sent.append((key.decode(), self.producer._txn_manager.has_pid()))
        self.futures.append(asyncio.get_running_loop().create_future())
        return self.futures[-1]

    def renewed(self) -> bool:
        return not self.producer._txn_manager.has_pid()


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Producer]:
    fake = Producer()
    behind_every_broker(monkeypatch, fake.producer)
    yield fake
    for future in fake.futures:  # answered, so nothing is reported as never retrieved
        if not future.done():
            future.set_result(None)
    fake.producer._closed = True  # never started: nothing to close


def event(key: str) -> Outgoing:
    body = {"type": RecordRouted.TYPE, "event_id": f"e-{key}", "correlation_id": "r"}
    return Outgoing(body, RecordRouted.TOPIC, key)


EMITTER = KafkaEmitter(KafkaBroker(), TopicNames("t."))


async def refused_elsewhere(fake: Producer) -> None:
    """A unit of work whose send the broker refused: it asks for the new id."""
    publication = EMITTER.publication()
    await publication.hand_over([event("z")])
    fake.futures[-1].set_exception(MessageSizeTooLargeError())
    with pytest.raises(MessageSizeTooLargeError):
        await publication.confirmed()
    publication.abandon()
    assert settling_of(fake.producer).wanted is not None


async def blocked(task: asyncio.Task[None]) -> bool:
    await asyncio.sleep(0.01)
    return not task.done()


async def test_the_new_id_waits_for_a_send_still_out_of_another_unit_of_work(fake: Producer) -> None:
    other = EMITTER.publication()
    await other.hand_over([event("a")])
    await refused_elsewhere(fake)
    later = asyncio.create_task(EMITTER.publication().hand_over([event("b")]))
    assert await blocked(later)
    assert not fake.renewed()
    fake.futures[0].set_result(None)  # the other unit's send is answered
    await asyncio.wait_for(later, 5)
    assert fake.renewed()
    assert fake.sent[-1] == ("b", False)  # left on the new id


async def test_the_new_id_waits_for_a_send_given_up_on(fake: Producer) -> None:
    given_up = EMITTER.publication()
    await given_up.hand_over([event("a")])
    given_up.abandon()  # its unit of work failed otherwise (its database)
    await refused_elsewhere(fake)
    later = asyncio.create_task(EMITTER.publication().hand_over([event("b")]))
    assert await blocked(later)
    fake.futures[0].set_result(None)
    await asyncio.wait_for(later, 5)
    assert fake.sent[-1] == ("b", False)
    assert not settling_of(fake.producer)._left  # nothing kept of it once answered


async def test_the_new_id_waits_while_a_hand_over_is_making_its_sends(fake: Producer) -> None:
    await refused_elsewhere(fake)
    fake.hold = asyncio.Event()
    settling = settling_of(fake.producer)
    wanted, settling.wanted = settling.wanted, None  # asked for only once the hand-over below is in its sends
    making = asyncio.create_task(EMITTER.publication().hand_over([event("a"), event("a")]))
    assert await blocked(making)
    settling.wanted = wanted
    later = asyncio.create_task(EMITTER.publication().hand_over([event("b")]))
    assert await blocked(later)
    fake.hold.set()
    await asyncio.wait_for(making, 5)
    for future in fake.futures[1:]:
        future.set_result(None)
    await asyncio.wait_for(later, 5)
    assert fake.sent[1:] == [("a", True), ("a", True), ("b", False)]


async def test_a_unit_of_work_whose_earlier_event_was_refused_sends_nothing_on_the_new_id(fake: Producer) -> None:
    """Its refusal, seen only after the new id was taken, asks for no other id and says nothing at /readyz: the
    new id mended what the old one broke."""
    first = EMITTER.publication()
    await first.hand_over([event("a")])
    fake.futures[0].set_exception(MessageSizeTooLargeError())  # refused; nobody has looked yet
    await refused_elsewhere(fake)
    other = asyncio.create_task(EMITTER.emit([event("b")]))
    assert await blocked(other)  # its send made on the new id, awaiting the broker's answer
    fake.futures[2].set_result(None)
    await asyncio.wait_for(other, 5)
    assert fake.renewed()
    with pytest.raises(MessageSizeTooLargeError):
        await first.hand_over([event("a")])  # the person's later event
    first.abandon()
    assert fake.sent == [("a", True), ("z", True), ("b", False)]
    assert settling_of(fake.producer).wanted is None
    assert producer_problem(KafkaBroker()) is None


async def test_readiness_lets_go_of_a_refusal_once_its_partition_takes_a_send_again(fake: Producer) -> None:
    """The cause mended (the topic takes the events again), the next send is taken, with or without a new id
    between: /readyz says nothing more, rather than for a minute after the last refusal."""
    await refused_elsewhere(fake)
    settling_of(fake.producer).wanted = None  # as when the refusals' gap holds the next new id back
    assert "MessageSizeTooLargeError" in (producer_problem(KafkaBroker()) or "")
    sending = asyncio.create_task(EMITTER.emit([event("b")]))
    assert await blocked(sending)
    assert producer_problem(KafkaBroker()) is not None  # sent, not taken yet
    fake.futures[-1].set_result(None)
    await asyncio.wait_for(sending, 5)
    assert producer_problem(KafkaBroker()) is None
    assert not fake.renewed()  # the note went with the send taken, no new id between


async def test_a_send_taken_before_the_refusal_does_not_let_go_of_its_note(fake: Producer) -> None:
    """A long unit of work whose early run was taken confirms only after a later batch of the same partition was
    refused: its send says nothing of the partition since, and /readyz keeps the refusal."""
    early = EMITTER.publication()
    await early.hand_over([event("a")])
    fake.futures[0].set_result(None)  # taken by the broker; its unit of work confirms at its end
    await refused_elsewhere(fake)  # then a batch of the same partition is refused
    assert "MessageSizeTooLargeError" in (producer_problem(KafkaBroker()) or "")
    await early.confirmed()
    assert "MessageSizeTooLargeError" in (producer_problem(KafkaBroker()) or "")
    assert settling_of(fake.producer).wanted is not None


async def test_a_send_whose_unit_of_work_was_cancelled_is_still_waited_for(fake: Producer) -> None:
    """aiokafka sends a record whose future was cancelled all the same. A unit of work cancelled while it awaits a
    send's confirmation (a shutdown, a rebalance) must leave that send out, and the new id must wait for it: taken
    at once, the send could leave on the new id ahead of an earlier event refused on the old one."""
    first = EMITTER.publication()
    await first.hand_over([event("a")])
    confirming = asyncio.create_task(first.confirmed())
    await asyncio.sleep(0.01)
    confirming.cancel()
    with pytest.raises(asyncio.CancelledError):
        await confirming
    first.abandon()
    assert not fake.futures[0].done()  # the send itself goes on
    await refused_elsewhere(fake)
    later = asyncio.create_task(EMITTER.publication().hand_over([event("b")]))
    assert await blocked(later)
    assert not fake.renewed()
    fake.futures[0].set_result(None)
    await asyncio.wait_for(later, 5)
    assert fake.renewed()


async def test_a_new_id_that_waits_long_for_the_sends_before_says_so(
    fake: Producer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """aiokafka's idempotent producer never gives up on a send: one to a partition without a leader holds the new
    id, and every hand-over behind it, until the leader is back. The wait is said in the log, not silent."""
    configure_logging(service="routing", fmt="json")
    monkeypatch.setattr(renewal, "SETTLE_SAID_EVERY_S", 0.02)
    other = EMITTER.publication()
    await other.hand_over([event("a")])
    await refused_elsewhere(fake)
    later = asyncio.create_task(EMITTER.publication().hand_over([event("b")]))
    await asyncio.sleep(0.1)
    assert not later.done()
    fake.futures[0].set_result(None)
    await asyncio.wait_for(later, 5)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    said = "the producer's new id waits for sends still out on the old one"
    waits = [line for line in lines if line["event"] == said]
    assert waits, lines
    assert (waits[0]["sends"], waits[0]["topic"], waits[0]["partition"]) == (1, "t.records.routed", 0)
    assert fake.renewed()
