"""Whose fault a failed publish is, and the bound on those that do not say: pure, no relay, no database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.errors import (
    BrokerResponseError,
    CorruptRecordException,
    InvalidRequestError,
    InvalidRequiredAcksError,
    InvalidTimestampError,
    InvalidTopicError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    OperationNotAttempted,
    OutOfOrderSequenceNumber,
    PolicyViolationError,
    ProducerClosed,
    RecordListTooLargeError,
    RecordTooLargeError,
    ReplicaNotAvailableError,
    TopicAuthorizationFailedError,
    UnknownError,
    UnsupportedForMessageFormatError,
)

from shared.clock import FixedClock
from shared.db.outbox_failures import FailsForGood, Fault, UnclearFailures, fault_of, sent_again_alone

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("error", "fault"),
    [
        (FailsForGood("the envelope cannot be opened"), Fault.ROW),
        (MessageSizeTooLargeError(), Fault.ROW),
        (RecordTooLargeError(), Fault.ROW),
        (RecordListTooLargeError(), Fault.ROW),  # sent alone: over the topic's segment.bytes
        (InvalidTimestampError(), Fault.DEPLOYMENT),  # stamped with this host's clock: the clock is wrong
        (KafkaConnectionError("lost"), Fault.DEPLOYMENT),  # retriable
        (NotLeaderForPartitionError(), Fault.DEPLOYMENT),  # retriable
        (KafkaTimeoutError(), Fault.DEPLOYMENT),
        (ProducerClosed(), Fault.DEPLOYMENT),
        (TopicAuthorizationFailedError(), Fault.DEPLOYMENT),
        (OSError("reset"), Fault.DEPLOYMENT),  # not Kafka's
        (UnknownError(), Fault.UNCLEAR),
        (KafkaError("Unexpected error during batch delivery"), Fault.UNCLEAR),
        (BrokerResponseError(), Fault.UNCLEAR),
        (ReplicaNotAvailableError(), Fault.DEPLOYMENT),  # aiokafka: not retriable; Kafka's own clients retry it
        (OperationNotAttempted(), Fault.UNCLEAR),  # another record of the request failed
        (CorruptRecordException(), Fault.UNCLEAR),  # bytes damaged on the way, or encoded wrong: not the record's
        # the broker's answer to the producer's or the topic's settings, the same for every row
        (InvalidRequiredAcksError(), Fault.DEPLOYMENT),  # acks not -1, 0 or 1
        (InvalidTopicError(), Fault.DEPLOYMENT),  # an internal topic
        (UnsupportedForMessageFormatError(), Fault.DEPLOYMENT),  # a topic's message format before 0.11
        # named neither the row's nor the deployment's: not set aside at once, bounded like the catch-alls
        (InvalidRequestError(), Fault.UNCLEAR),
        (PolicyViolationError(), Fault.UNCLEAR),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else value.name,
)
def test_whose_fault_an_error_is(error: BaseException, fault: Fault) -> None:
    assert fault_of(error) is fault


def every_kafka_error(kind: type[KafkaError] = KafkaError) -> Iterator[type[KafkaError]]:
    """Every error class aiokafka.errors defines under `kind` (not those other packages derive from it)."""
    for subclass in kind.__subclasses__():
        if subclass.__module__ == "aiokafka.errors":
            yield subclass
        yield from every_kafka_error(subclass)


def test_only_its_size_makes_a_kafka_error_the_rows_among_every_one_aiokafka_names() -> None:
    """Set aside at once only for errors named the row's: any other, one a later aiokafka adds too, is at worst
    unclear (set aside after the bound), never a whole deployment's rows parked at once."""
    the_rows = {kind for kind in every_kafka_error() if fault_of(kind()) is Fault.ROW}
    assert the_rows == {MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError}


def test_a_row_is_given_up_once_it_failed_in_enough_passes_over_long_enough() -> None:
    clock = FixedClock(START)
    unclear = UnclearFailures(clock, passes=3, over_s=60)
    assert [unclear.failed(7).given_up for _ in range(5)] == [False] * 5  # many passes, no time
    clock.advance_to(START + timedelta(seconds=60))
    strikes = unclear.failed(7)
    assert (strikes.given_up, strikes.passes, strikes.first) == (True, 6, START)
    assert unclear.failed(7).passes == 1  # given up: forgotten

    other = UnclearFailures(clock, passes=3, over_s=0)
    assert [other.failed(8).given_up for _ in range(3)] == [False, False, True]  # no time to wait: the third pass


def test_a_row_no_pass_reads_any_more_is_forgotten() -> None:
    unclear = UnclearFailures(FixedClock(START), passes=5, over_s=60)
    unclear.failed(7)
    unclear.failed(8)
    unclear.keep_only([8, 9])
    assert unclear.failed(7).passes == 1
    assert unclear.failed(8).passes == 2


TOO_LARGE, OUT_OF_SEQUENCE, UNCLEAR_ONE = MessageSizeTooLargeError(), OutOfOrderSequenceNumber(), UnknownError()
PRODUCERS = KafkaError("Unexpected error during batch delivery")


@pytest.mark.parametrize(
    ("failed", "alone"),
    [
        ([(0, TOO_LARGE)], [False]),  # refused alone in its partition: the one at fault, judged at once
        ([(0, TOO_LARGE), (0, TOO_LARGE), (0, TOO_LARGE)], [True, True, True]),  # one of them at fault
        ([(0, TOO_LARGE), (1, TOO_LARGE)], [False, False]),  # each alone in its partition
        ([(0, TOO_LARGE), (0, OUT_OF_SEQUENCE), (0, OUT_OF_SEQUENCE)], [False, True, True]),  # left after it
        ([(0, TOO_LARGE), (1, OUT_OF_SEQUENCE)], [False, False]),  # another partition's sequence: the deployment's
        ([(0, OUT_OF_SEQUENCE)], [False]),  # no refusal seen: the deployment's, the pass stops
        ([(0, TOO_LARGE), (0, TOO_LARGE), (0, UNCLEAR_ONE)], [True, True, True]),  # the broker's: all alone
        ([(0, UNCLEAR_ONE), (0, UNCLEAR_ONE)], [True, True]),  # refused together, unexplained: which one, alone
        ([(0, UNCLEAR_ONE)], [False]),  # alone in its partition: its strike counted at once
        ([(0, OperationNotAttempted()), (0, UNCLEAR_ONE)], [True, True]),  # not tried because of another
        ([(0, CorruptRecordException()), (0, CorruptRecordException())], [True, True]),  # damaged: which, alone
        ([(0, PRODUCERS), (0, PRODUCERS)], [False, False]),  # the producer's own: says nothing of a request
        ([(0, TOO_LARGE), (0, KafkaConnectionError("lost"))], [False, False]),
    ],
)
def test_which_failed_sends_go_again_alone(failed: list[tuple[int, BaseException]], alone: list[bool]) -> None:
    assert sent_again_alone(failed, renews=True) == alone


def test_without_a_whole_sequence_after_a_refusal_nothing_goes_again() -> None:
    assert sent_again_alone([(0, TOO_LARGE), (0, TOO_LARGE), (0, OUT_OF_SEQUENCE)], renews=False) == [False] * 3
