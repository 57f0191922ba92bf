"""A new producer id after the broker refused a batch (shared/kafka/sequence.py), and what /readyz says then.

On producers never started: only their idempotent state counts. Real Kafka's side is in
tests/integration/test_poison_messages.py and test_routing_fast_paths.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    InvalidRequiredAcksError,
    InvalidTimestampError,
    InvalidTopicError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    RecordListTooLargeError,
    UnknownError,
    UnknownProducerId,
    UnsupportedForMessageFormatError,
)
from faststream.kafka import KafkaBroker

from shared.kafka import renewal, sequence
from shared.kafka.direct import DirectSender
from shared.kafka.refusals import producer_problem
from shared.kafka.renewal import Renewal, Settling, settling_of
from shared.kafka.sequence import breaks_the_sequence, can_renew, renew_producer_id
from tests.support.producers import behind_every_broker, never_started, producer_clock


@pytest.mark.parametrize(
    ("error", "breaks"),
    [
        (MessageSizeTooLargeError(), True),  # the broker refused the batch: its numbers are used up
        (RecordListTooLargeError(), True),
        (CorruptRecordException(), True),
        (InvalidTimestampError(), True),
        (UnknownError(), True),
        (OutOfOrderSequenceNumber(), True),  # a later batch of a broken sequence
        (UnknownProducerId(), True),  # the broker forgot the producer id
        (NotLeaderForPartitionError(), False),  # retriable: aiokafka sends it again with the same numbers
        (KafkaConnectionError("lost"), False),
        (KafkaTimeoutError(), False),  # not the broker's answer
        (ProducerClosed(), False),
        (KafkaError("Unexpected error during batch delivery"), False),  # a dead sender task
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_which_outcomes_break_the_sequence(error: BaseException, breaks: bool) -> None:
    assert breaks_the_sequence(error) is breaks


def idempotent(pid: int = 7) -> AIOKafkaProducer:
    """An idempotent producer as after start-up: a producer id, and sequence numbers used in a partition."""
    producer = never_started(enable_idempotence=True)
    producer._txn_manager.set_pid_and_epoch(pid, 0)
    producer._txn_manager.increment_sequence_number(("t.records", 0), 5)
    return producer


async def test_a_renewed_producer_has_no_id_and_every_sequence_from_zero() -> None:
    producer = idempotent()
    assert renew_producer_id(producer)
    manager = producer._txn_manager
    assert not manager.has_pid()  # the sender task asks the broker for a new one before the next batch
    assert manager.sequence_number(("t.records", 0)) == 0
    manager.set_pid_and_epoch(8, 0)  # the broker's answer is taken (a done waiter would raise)
    assert manager.producer_id == 8


async def test_renewing_again_before_the_new_id_came_changes_nothing() -> None:
    producer = idempotent()
    assert renew_producer_id(producer)
    waiter = producer._txn_manager._pid_waiter
    assert renew_producer_id(producer)
    assert producer._txn_manager._pid_waiter is waiter


async def test_a_producer_of_another_layout_is_left_as_it_is() -> None:
    plain = never_started()  # not idempotent: nothing to renew
    assert not can_renew(plain)
    assert not renew_producer_id(plain)
    moved = idempotent()
    del moved._txn_manager._sequence_numbers  # an aiokafka that keeps them elsewhere
    assert not renew_producer_id(moved)
    assert moved._txn_manager.producer_id == 7


async def test_an_aiokafka_without_the_module_renews_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sequence, "_NO_ID", None)  # as when aiokafka.producer.transaction_manager is gone
    producer = idempotent()
    assert not can_renew(producer)
    assert not renew_producer_id(producer)
    assert producer._txn_manager.producer_id == 7


@pytest.fixture
async def sender(monkeypatch: pytest.MonkeyPatch) -> tuple[DirectSender, AIOKafkaProducer]:
    producer = idempotent()
    monkeypatch.setattr(producer, "_closed", False)  # as a started one reads; undone after (no "Unclosed" warning)
    behind_every_broker(monkeypatch, producer)
    return DirectSender(KafkaBroker()), producer


async def test_a_refused_batch_renews_the_producer_id_once_for_the_sends_before(
    sender: tuple[DirectSender, AIOKafkaProducer],
) -> None:
    direct_sender, producer = sender
    assert direct_sender.renews_sequences
    direct_sender.failed("t.records", b"k", MessageSizeTooLargeError())
    assert not producer._txn_manager.has_pid()
    producer._txn_manager.set_pid_and_epoch(8, 0)
    direct_sender.failed("t.records", b"k", OutOfOrderSequenceNumber())  # a batch that left before the renewal
    assert producer._txn_manager.producer_id == 8
    assert producer_problem(KafkaBroker()) is None  # nothing to restart: the sequence is whole again


def clock_and_renewals(monkeypatch: pytest.MonkeyPatch) -> tuple[list[float], list[float]]:
    """A clock the test moves (`now[0]`, from 1000 s) and the times at which the producer id was renewed."""
    now = producer_clock(monkeypatch)
    renewals: list[float] = []

    def renew(_: AIOKafkaProducer) -> bool:
        renewals.append(now[0])
        return True

    monkeypatch.setattr(renewal, "renew_producer_id", renew)
    return now, renewals


async def test_a_refusal_that_goes_on_renews_the_producer_id_at_most_once_a_minute(
    sender: tuple[DirectSender, AIOKafkaProducer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing grant or a clock that stays off comes back at every relay pass: each new id is held by the broker
    for a day. A row's refusal, or a sequence the broker calls broken, renews at once all the same."""
    direct_sender, _ = sender
    now, renewals = clock_and_renewals(monkeypatch)

    def refused(error: BaseException) -> None:
        direct_sender._renewed = False  # as after the next pass's sends
        direct_sender.failed("t.records", b"k", error)

    refused(InvalidTimestampError())
    now[0] += 1
    refused(InvalidTimestampError())  # the next pass, a second on
    assert renewals == [1000.0]
    now[0] += 1
    refused(OutOfOrderSequenceNumber())  # the clock put right: the partition's sequence is broken, mended at once
    refused(MessageSizeTooLargeError())  # a row's refusal: that row is set aside, the id renewed for the rest
    assert renewals == [1000.0, 1002.0, 1002.0]
    now[0] += 59
    refused(InvalidTimestampError())
    assert len(renewals) == 3
    now[0] += 1
    refused(InvalidTimestampError())  # a minute after the last
    assert renewals[-1] == 1062.0


@pytest.mark.parametrize(
    "error",
    [InvalidRequiredAcksError, InvalidTopicError, UnsupportedForMessageFormatError],
    ids=lambda error: error.__name__,
)
async def test_a_refused_setting_renews_the_producer_id_at_most_once_a_minute(
    sender: tuple[DirectSender, AIOKafkaProducer], monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    """The producer's acks, an internal topic, a topic's old message format: refused for every batch, at every
    relay pass, until the setting is changed (the deployment's: no row is set aside)."""
    direct_sender, _ = sender
    now, renewals = clock_and_renewals(monkeypatch)
    for _ in range(3):
        direct_sender._renewed = False  # as after the next pass's sends
        direct_sender.failed("t.records", b"k", error())
        now[0] += 1
    assert renewals == [1000.0]
    now[0] += 57
    direct_sender._renewed = False
    direct_sender.failed("t.records", b"k", error())  # a minute after the last
    assert renewals == [1000.0, 1060.0]


async def test_routings_emitter_asks_for_the_new_id_instead_of_taking_it(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = idempotent()
    monkeypatch.setattr(producer, "_closed", False)  # as a started one reads; undone after
    behind_every_broker(monkeypatch, producer)
    emitter_sender = DirectSender(KafkaBroker(), renewal=Renewal.WHEN_SETTLED)
    assert emitter_sender.renews_sequences
    emitter_sender.failed("t.records", b"k", MessageSizeTooLargeError())
    assert producer._txn_manager.producer_id == 7  # the same id until the sends out on it have settled
    assert emitter_sender.settling.wanted == ("t.records", 0, "MessageSizeTooLargeError")
    emitter_sender.failed("t.records", b"k", OutOfOrderSequenceNumber())
    problem = producer_problem(KafkaBroker())  # said, with what was refused; nothing to restart
    assert problem is not None
    assert "(MessageSizeTooLargeError)" in problem
    assert "restart" not in problem
    await emitter_sender.settling.settle()
    assert producer_problem(KafkaBroker()) is None  # the new id taken
    assert not producer._txn_manager.has_pid()
    assert emitter_sender.settling.generation == 1
    assert emitter_sender.settling.wanted is None


class Out:
    """A writer with sends out."""

    def __init__(self, *sends: asyncio.Future[None]) -> None:
        self.sends = list(sends)

    def unsettled(self) -> list[asyncio.Future[None]]:
        return self.sends


async def settled_after(settling: Settling, step: Callable[[], None]) -> bool:
    """Whether `settle` waited for `step`: not done before it, done after."""
    task = asyncio.create_task(settling.settle())
    await asyncio.sleep(0.01)
    waited = not task.done()
    step()
    await asyncio.wait_for(task, 1)
    return waited


async def test_the_new_id_waits_for_every_send_out_on_the_old_one() -> None:
    producer = idempotent()
    settling = settling_of(producer)
    loop = asyncio.get_running_loop()
    send, abandoned = loop.create_future(), loop.create_future()
    writer = Out(send)
    settling.join(writer)
    settling.left(abandoned)
    settling.want("t.records", 0, "MessageSizeTooLargeError")

    def answered() -> None:
        send.set_result(None)
        abandoned.set_exception(OutOfOrderSequenceNumber())

    assert await settled_after(settling, answered)
    assert not producer._txn_manager.has_pid()
    assert settling.generation == 1
    abandoned.exception()


async def test_the_new_id_waits_while_a_hand_over_is_sending() -> None:
    producer = idempotent()
    settling = settling_of(producer)
    settling.sending()
    settling.want("t.records", 0, "MessageSizeTooLargeError")
    assert await settled_after(settling, settling.sent)
    assert settling.generation == 1


async def test_without_a_refusal_settling_takes_no_new_id() -> None:
    producer = idempotent()
    settling = settling_of(producer)
    await asyncio.wait_for(settling.settle(), 1)
    assert producer._txn_manager.producer_id == 7
    assert settling.generation == 0
    without_producer = Settling(None)  # the test broker's: nothing to renew
    without_producer.want("t.records", 0, "MessageSizeTooLargeError")
    assert without_producer.wanted is None


async def test_routings_new_ids_back_off_from_a_second_to_a_minute_while_refusals_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Routing sends a refused unit of work's events again a second later, and again, until the cause is mended (a
    topic set to take smaller messages, a grant missing): a new id each time would leave the broker holding
    thousands a day. The gaps double up to a minute; after a quiet minute the next refusal renews at once."""
    producer = idempotent()
    monkeypatch.setattr(producer, "_closed", False)  # as a started one reads; undone after
    behind_every_broker(monkeypatch, producer)
    now, renewals = clock_and_renewals(monkeypatch)
    sender = DirectSender(KafkaBroker(), renewal=Renewal.WHEN_SETTLED)

    async def refused_every_second(seconds: int) -> None:
        for _ in range(seconds):
            sender.failed("t.records", b"k", MessageSizeTooLargeError())
            assert "MessageSizeTooLargeError" in (producer_problem(KafkaBroker()) or "")
            await sender.settling.settle()
            now[0] += 1

    await refused_every_second(130)
    assert [t - 1000 for t in renewals] == [0, 1, 3, 7, 15, 31, 63, 123]
    now[0] += 200  # the cause mended long ago: quiet
    assert producer_problem(KafkaBroker()) is None
    renewals.clear()
    await refused_every_second(3)
    assert [t - 1330 for t in renewals] == [0, 1]
