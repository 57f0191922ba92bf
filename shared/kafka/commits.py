"""A consumer's offsets committed a while after its batches were done, not after every batch.

Each commit is a round trip to the group's coordinator, and a record the broker
appends to its offsets topic and reads back. At a steady trickle a subscriber's
batch holds a record or two, so every record paid for a commit of each group
it passed through: at 200 records a second on the benchmark's box the broker
spent 0.25 of a core on them, and each batch waited for its commit before the
next poll (docs/performance.md, round 56).

Here the offsets a batch has done are kept, and committed COMMIT_EVERY_S later
together with those of the batches done meanwhile; under load, when a batch
takes longer than that, it is still one commit a batch. Nothing is committed
that was not done, so a crash loses nothing: it reads again, from the last
commit, what was done since, as a crash between a batch and its commit always
could. Every subscriber's handler is idempotent (shared/kafka/consuming.py),
so that costs reading again, never an effect twice.

Kept offsets are committed at once when the group takes partitions away (a
rebalance: the new owner starts from them), when a batch fails (its done part
must not be set aside again by a restart) and when the subscriber stops.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, ConsumerStoppedError, KafkaError

from shared.kafka.progress import Partition

COMMIT_EVERY_S = 0.5  # the longest a batch's offsets wait for their commit
log = structlog.get_logger(__name__)


class Commits:
    """The offsets one consumer has done and not committed yet: per partition, the next offset to read."""

    def __init__(self, every_s: float | None = None) -> None:
        self._every_s = COMMIT_EVERY_S if every_s is None else every_s
        self._kept: dict[Partition, int] = {}
        self._consumer: Any = None
        self._later: asyncio.Task[None] | None = None
        self._one_at_a_time = asyncio.Lock()  # a commit's offsets are never older than the one before

    def done(self, consumer: Any, offsets: dict[Partition, int]) -> None:
        """`offsets` done by `consumer`: committed within `every_s` (a consumer started anew drops the kept
        offsets of the one before, which stopped: its group reads them again)."""
        if consumer is not self._consumer:
            self._consumer, self._kept = consumer, {}
        for part, offset in offsets.items():
            self._kept[part] = max(offset, self._kept.get(part, offset))
        if self._kept and self._later is None:
            self._later = asyncio.create_task(self._after_a_while())

    async def _after_a_while(self) -> None:
        await asyncio.sleep(self._every_s)
        self._later = None  # what is done from now on waits for a commit of its own
        await self.commit()

    async def commit(self) -> None:
        """Commit the kept offsets now: those of partitions still this consumer's."""
        async with self._one_at_a_time:
            kept, self._kept, consumer = self._kept, {}, self._consumer
            assignment = getattr(consumer, "assignment", None)
            if not kept or assignment is None:  # nothing kept, or FastStream's test stand-in consumer
                return
            assigned = assignment()
            offsets = {
                tp: offset
                for (topic, partition), offset in kept.items()
                if (tp := TopicPartition(topic, partition)) in assigned
            }
            if not offsets:
                return
            try:
                await consumer.commit(offsets)
            except CommitFailedError:  # a rebalance took the partitions: their new owner reads them again
                log.warning("offset commit lost to a rebalance")
            except (KafkaError, ConsumerStoppedError) as error:  # Kafka away, the consumer stopped meanwhile
                log.warning("offsets not committed yet", error_type=type(error).__name__)
                if consumer is self._consumer:  # kept for the next try, unless the consumer was started anew
                    self.done(consumer, kept)

    async def close(self) -> None:
        """The subscriber is stopping: what is kept committed now, and no commit left waiting."""
        if self._later is not None:
            self._later.cancel()
            self._later = None
        await self.commit()


class CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commits a consumer's kept offsets when the group takes its partitions away, so that their next owner
    starts where it stopped."""

    def __init__(self, commits: Commits) -> None:
        self._commits = commits

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._commits.commit()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None
