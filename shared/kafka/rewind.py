"""Puts a consumer whose batch failed where the batch must be read again from (shared.kafka.progress).

Sought in this process, so the next poll brings the batch again from each
partition's first message not done; and committed there for the partitions
where a message was done, so that a restart or another member of the group
does not read again, and set aside again, what was done before the failure:
by the caller's own commits (a subscriber's, shared.kafka.commits) or here
(`commit`, reporting's fold).
"""

from __future__ import annotations

from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from shared.kafka.progress import Partition

log = structlog.get_logger(__name__)


async def read_again_from(
    consumer: Any, resume: dict[Partition, int], *, commit: dict[Partition, int] | None = None
) -> None:
    """Each partition of `resume` still this consumer's sought to its offset, and `commit` (if any) committed
    (a subscriber's own commits: shared.kafka.commits).

    A partition a rebalance took is its new owner's to read (from the offsets committed). A commit Kafka
    refuses (a rebalance under way, the group not authorised) is logged and passed: the batch is read again
    from the offsets sought all the same, and only a restart before the next commit reads from the earlier
    one. While Kafka is away the commit waits for it (aiokafka retries), as every batch's commit does.
    """
    assignment = getattr(consumer, "assignment", None)
    if assignment is None:  # FastStream's test broker's stand-in consumer: nothing is read again
        return
    assigned = assignment()
    for (topic, partition), offset in resume.items():
        if (tp := TopicPartition(topic, partition)) in assigned:
            consumer.seek(tp, offset)
    offsets = still_assigned(commit or {}, assigned)
    if not offsets:
        return
    try:
        await consumer.commit(offsets)
    except KafkaError as error:  # CommitFailedError (a rebalance took them), or Kafka away
        log.warning("offsets of a failed batch not committed", error_type=type(error).__name__)


def still_assigned(offsets: dict[Partition, int], assigned: set[TopicPartition]) -> dict[TopicPartition, int]:
    """Of `offsets`, those of partitions in `assigned`, as aiokafka's commit takes them: a partition a rebalance
    took is its new owner's to commit."""
    return {
        tp: offset
        for (topic, partition), offset in offsets.items()
        if (tp := TopicPartition(topic, partition)) in assigned
    }
