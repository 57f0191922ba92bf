"""What the broker refused of each aiokafka producer, noted by its senders, and what /readyz says of it.

Apart from the sending (shared/kafka/direct.py) and the producer's new ids
(shared/kafka/renewal.py): /readyz reads these notes through
`producer_problem`, and they are kept per producer, not per sender, since
every sender of a service shares its broker's producer.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from time import monotonic

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from shared.kafka.broker import aiokafka_producer


def producer_problem(broker: KafkaBroker) -> str | None:
    """Why the broker's aiokafka producer does not publish what it is given, in words for /readyz; None while
    it does, or when there is no started producer to ask.

    - Its sender task ended. aiokafka sends every batch from one background task; when that task ends (an
      error it did not expect) the producer stays open and each `send` raises a copy of that error at once,
      a bare KafkaError mostly, until the service restarts. Read from its private `_sender.sender_task`, as
      aiokafka 0.14 holds it; a layout that moves answers None.
    - A partition's sequence broke, and the producer's id could not be renewed. The producer is idempotent,
      and aiokafka 0.14 counts the sequence numbers of a batch the broker refused (too large for the topic,
      say) as used: the broker then answers OutOfOrderSequenceNumber to every later batch of that partition.
      `DirectSender.failed` gives the producer a new id at the refusal (`shared.kafka.sequence`), which makes
      the sequence whole; where aiokafka's layout is not the one it knows, the partition stays refused until
      the service restarts, and this says so.
    - The broker refuses the batches of a writer that sends the same events again until they are taken (routing's
      emitter, `Renewal.WHEN_SETTLED`): a topic that takes smaller messages than they are, a grant missing. Said
      while it goes on (`CLOCK_SAID_S` after the last refusal), until the producer takes its new id or the
      partition takes a send again (`DirectSender.taken`).
    - The broker refuses the messages' timestamps, which the producer takes from this host's clock. Said
      while it goes on (`CLOCK_SAID_S` after the last refusal): once the clock is right, the partitions
      publish again, on the producer's new id (where none could be taken, a partition that knew the
      producer's sequence is out of sequence: above, with the clock named as its cause).

    The last three are seen by the senders that await their sends' outcomes (`DirectSender.failed`).
    """
    producer = aiokafka_producer(broker)
    if producer is None or getattr(producer, "_closed", True):
        return None
    task = getattr(getattr(producer, "_sender", None), "sender_task", None)
    if isinstance(task, asyncio.Task) and task.done():
        error = None if task.cancelled() else task.exception()
        stopped = type(error).__name__ if error is not None else "cancelled"
        return f"Kafka producer's sender task stopped ({stopped}): nothing is published; restart the service"
    refused = REFUSED.get(producer)
    if refused is None:
        return None
    if refused.sequence_broken:
        refusal, then = (
            ("their timestamps", f"{_CLOCK}, then restart the service")
            if refused.clock_seen_at
            else ("a batch", "nothing more is published there; restart the service")
        )
        return (
            f"Kafka refuses the producer's batches for {refused.where} (OutOfOrderSequenceNumber, after it refused "
            f"{refusal}): {then}"
        )
    if refused.batch_seen_at and monotonic() - refused.batch_seen_at < CLOCK_SAID_S:
        return (
            f"Kafka refuses the producer's batches for {refused.batch_where} ({refused.batch_error}): nothing more is "
            "published there until it takes them; then the producer takes a new id by itself (within a minute)"
        )
    if refused.clock_seen_at and monotonic() - refused.clock_seen_at < CLOCK_SAID_S:
        return (
            f"Kafka refuses the timestamps of the producer's messages for {refused.where} (InvalidTimestamp): {_CLOCK}"
        )
    return None


CLOCK_SAID_S = 60.0
# the messages carry this host's time (the producer stamps them), and Kafka 4 takes none over an hour ahead of
# its own clock by default (message.timestamp.after.max.ms; before.max.ms bounds those behind, and a batch
# retried through a long outage can grow that old)
_CLOCK = (
    "this host's clock is off from the brokers' by more than the topic takes (an hour ahead, by Kafka 4's "
    "default), or the topic's message.timestamp.before.max.ms is shorter than a batch waited; set it right"
)


@dataclass(slots=True)
class Refusals:
    """What the broker refused of one producer: where first, whether a sequence broke, when timestamps last."""

    where: str
    sequence_broken: bool = False
    clock_seen_at: float = 0.0  # monotonic() of the last timestamp refused; 0 for none
    batch_seen_at: float = 0.0  # of the last batch refused of a writer that renews when settled, till it renews
    batch_where: str = ""  # and where, and the broker's answer
    batch_error: str = ""


# producer -> what the broker refused of it; weak, so a producer closed and dropped takes its entry with it
REFUSED: weakref.WeakKeyDictionary[AIOKafkaProducer, Refusals] = weakref.WeakKeyDictionary()


def partition_named(topic: str, partition: int) -> str:
    """A partition as /readyz and the refusals name it."""
    return f"{topic} partition {partition}"
