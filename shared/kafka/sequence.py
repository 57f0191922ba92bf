"""A new producer id for the idempotent producer, after the broker refused one of its batches.

An idempotent producer numbers its batches per partition, and the broker
appends a batch only if its number follows the last one it appended from the
producer. aiokafka 0.14 counts a batch's numbers as used once the batch
leaves: when the broker refuses the batch (too large for the topic, a
timestamp it does not take), the numbers after it never follow, and the
broker answers OutOfOrderSequenceNumber to every later batch of that
partition. Kafka's Java producer, meeting this, takes a new producer id,
whose numbers start again from 0 in every partition; `renew_producer_id`
does the same to an aiokafka producer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import BrokerResponseError

try:  # aiokafka 0.14's private layout: where it moved, no producer id is renewed, and the service starts all the same
    from aiokafka.producer.transaction_manager import (
        NO_PRODUCER_EPOCH,
        NO_PRODUCER_ID,
        PidAndEpoch,
        TransactionManager,
    )

    _NO_ID: Any = PidAndEpoch(NO_PRODUCER_ID, NO_PRODUCER_EPOCH)
except ImportError:
    _NO_ID = None


def breaks_the_sequence(error: BaseException) -> bool:
    """A send's outcome that used up its batch's sequence numbers: the broker answered the batch with an error
    aiokafka does not retry (its retriable ones are sent again with the same numbers). Only for the errors of a
    send's confirmation: a record the producer refuses before it leaves (over `max_request_size`) has none."""
    return isinstance(error, BrokerResponseError) and not error.retriable


def can_renew(producer: AIOKafkaProducer) -> bool:
    """Whether `renew_producer_id` can renew this producer: idempotent, not transactional, its sender task
    running, and aiokafka's private layout the one `renew_producer_id` names."""
    return _manager(producer) is not None


def renew_producer_id(producer: AIOKafkaProducer) -> bool:
    """Set the producer back to "no producer id"; False, nothing changed, where it cannot be (`can_renew`).

    aiokafka 0.14 keeps the idempotent state in the producer's private `_txn_manager` (a TransactionManager of
    `aiokafka.producer.transaction_manager`):
    `_pid_and_epoch`, `_sequence_numbers` (per partition, counted as each batch leaves) and `_pid_waiter` (a
    future, set when the broker answers InitProducerId; setting a done one raises). Its sender task asks for a
    producer id before it drains each batch when it has none (`Sender._maybe_wait_for_pid`), as at start-up:
    the batches that leave from then on carry the new id, their numbers from 0. A batch that left before
    keeps the old id and its numbers, which the broker still holds; aiokafka sends one batch of a partition
    at a time, so a retried old one never interleaves with a new one. Renewing again before the new id came
    changes nothing. A layout that moves makes this answer False, and the sequence stays broken, as before
    renewal existed: /readyz says to restart the service (`shared.kafka.refusals.producer_problem`).
    """
    manager = _manager(producer)
    if manager is None:
        return False
    if manager.has_pid():
        manager._sequence_numbers.clear()
        manager._pid_waiter = asyncio.get_running_loop().create_future()
        manager._pid_and_epoch = _NO_ID
    return True


def _manager(producer: AIOKafkaProducer) -> TransactionManager | None:
    """The producer's idempotent state where its layout is aiokafka 0.14's and its sender task runs; else None."""
    manager = getattr(producer, "_txn_manager", None)
    sender = getattr(producer, "_sender", None)
    task = getattr(sender, "sender_task", None)
    if (
        _NO_ID is None
        or not isinstance(manager, TransactionManager)
        or manager.transactional_id is not None
        or not callable(getattr(sender, "_maybe_wait_for_pid", None))
        or (isinstance(task, asyncio.Task) and task.done())
        or not isinstance(getattr(manager, "_pid_and_epoch", None), type(_NO_ID))
        or not isinstance(getattr(manager, "_pid_waiter", None), asyncio.Future)
        or not isinstance(getattr(manager, "_sequence_numbers", None), dict)
    ):
        return None
    return manager
