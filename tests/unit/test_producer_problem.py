"""What /readyz says of refusals a producer's senders saw (shared/kafka/refusals.py): pure, no broker."""

from __future__ import annotations

import pytest
from aiokafka.errors import InvalidTimestampError, KafkaTimeoutError, OutOfOrderSequenceNumber
from faststream.kafka import KafkaBroker

from shared.kafka import refusals
from shared.kafka.direct import DirectSender
from shared.kafka.refusals import producer_problem
from tests.support.producers import behind_every_broker, never_started, producer_clock


@pytest.fixture
async def sender(monkeypatch: pytest.MonkeyPatch) -> DirectSender:
    producer = never_started()  # only its identity counts
    monkeypatch.setattr(producer, "_closed", False)  # as a started one reads; undone after (no "Unclosed" warning)
    behind_every_broker(monkeypatch, producer)
    return DirectSender(KafkaBroker())


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The seconds the producer's modules read from their monotonic clock, for a test to move on."""
    return producer_clock(monkeypatch)


async def test_other_errors_say_nothing(sender: DirectSender) -> None:
    sender.failed("t.records", b"k", KafkaTimeoutError())
    assert producer_problem(KafkaBroker()) is None


async def test_a_timestamp_refused_is_said_while_it_goes_on_then_no_more(
    sender: DirectSender, now: list[float]
) -> None:
    sender.failed("t.records", b"k", InvalidTimestampError())
    assert (producer_problem(KafkaBroker()) or "").startswith(
        "Kafka refuses the timestamps of the producer's messages for t.records partition 0 (InvalidTimestamp)"
    )
    now[0] += refusals.CLOCK_SAID_S - 1
    assert producer_problem(KafkaBroker()) is not None
    now[0] += 2  # the clock set right: a partition that knew no sequence of the producer publishes again
    assert producer_problem(KafkaBroker()) is None


async def test_a_broken_sequence_of_a_producer_that_cannot_be_renewed_is_said_until_the_restart(
    sender: DirectSender, now: list[float]
) -> None:
    # the fixture's producer is not idempotent: no producer id to renew (shared/kafka/sequence.py)
    sender.failed("t.records", b"k", OutOfOrderSequenceNumber())
    now[0] += 3600
    assert producer_problem(KafkaBroker()) == (
        "Kafka refuses the producer's batches for t.records partition 0 (OutOfOrderSequenceNumber, after it "
        "refused a batch): nothing more is published there; restart the service"
    )
