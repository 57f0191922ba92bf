"""A consumer's offsets committed a while after its batches were done, not after every batch.

Each commit is a round trip to the group's coordinator, and a record the broker
appends to its offsets topic and reads back. At a steady trickle a subscriber's
batch holds a record or two, so every record paid for a commit of each group
it passed through, and each batch waited for its commit before the next poll:
at 10-200 records a second on the benchmark's box the broker spent 0.02-0.09
of a core more on them than it does now (docs/performance.md, round 56).

Here the offsets a batch has done are kept, and committed COMMIT_EVERY_S later
together with those of the batches done meanwhile; under load, when a batch
takes longer than that, it is still one commit a batch. Nothing is committed
that was not done, so a crash loses nothing: it reads again, from the last
commit, what was done since, as a crash between a batch and its commit always
could. Every subscriber's handler is idempotent (shared/kafka/consuming.py),
so that costs reading again, never an effect twice.

Kept offsets are committed at once when the group takes partitions away (a
rebalance: the new owner starts from them), when a batch set a message aside
or failed (a restart must not set aside again what Kafka took as a dead
letter) and when the subscriber stops (what was done before the stop began;
that commit waits STOP_COMMIT_S at most, so that a stop never waits for a
Kafka that is away).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError

from shared.kafka.progress import Partition
from shared.kafka.rewind import still_assigned

COMMIT_EVERY_S = 0.5  # the longest a batch's offsets wait for their commit
STOP_COMMIT_S = 5.0  # the longest a stopping subscriber waits for its last commit
log = structlog.get_logger(__name__)


class Commits:
    """The offsets one consumer has done and not committed yet: per partition, the next offset to read."""

    def __init__(self, every_s: float | None = None) -> None:
        self._every_s = COMMIT_EVERY_S if every_s is None else every_s
        self._kept: dict[Partition, int] = {}
        self._consumer: Any = None
        self._later: asyncio.Task[None] | None = None  # the commit waiting its turn, or under way
        self._closed = False  # the subscriber stopping: no commit is waited for any more
        self._one_at_a_time = asyncio.Lock()  # a commit's offsets are never older than the one before

    def done(self, consumer: Any, offsets: dict[Partition, int]) -> None:
        """`offsets` done by `consumer`: committed within `every_s` (a consumer started anew drops the kept
        offsets of the one before, which stopped: its group reads them again)."""
        if getattr(consumer, "assignment", None) is None:  # FastStream's test stand-in consumer: nothing to commit
            return
        if consumer is not self._consumer:
            self._consumer, self._kept, self._closed = consumer, {}, False
        self._keep(offsets)
        self._commit_later()

    def _keep(self, offsets: dict[Partition, int]) -> None:
        for part, offset in offsets.items():
            self._kept[part] = max(offset, self._kept.get(part, offset))

    def _commit_later(self) -> None:
        # one commit waits at a time: while Kafka is away its commit waits for it (aiokafka retries), and the
        # batches done meanwhile go with the next
        if self._kept and not self._closed and (self._later is None or self._later.done()):
            self._later = asyncio.create_task(self._after_a_while())

    async def _after_a_while(self) -> None:
        try:
            await asyncio.sleep(self._every_s)
            taken = await self.commit()
        finally:
            self._later = None
        if taken:
            self._commit_later()  # what was done while that commit was under way

    async def commit(self) -> bool:
        """Commit the kept offsets now: those of partitions still this consumer's. False when Kafka did not take
        them: they are kept, and go with the next commit."""
        async with self._one_at_a_time:
            kept, self._kept, consumer = self._kept, {}, self._consumer
            if not kept:
                return True
            offsets = still_assigned(kept, consumer.assignment())
            if not offsets:
                return True
            try:
                await consumer.commit(offsets)
            except CommitFailedError:  # a rebalance took the partitions: their new owner reads them again
                log.warning("offset commit lost to a rebalance")
            except KafkaError as error:  # refused (the group not authorised, say): kept for the next commit
                log.warning("offsets not committed yet", error_type=type(error).__name__)
                if consumer is self._consumer:  # unless the consumer was started anew meanwhile
                    self._keep(kept)
                return False
            return True

    async def close(self) -> None:
        """The subscriber is stopping: what is kept committed now, and no commit waited for any more (a batch
        done from now on is read again by the group: its consumer closes next)."""
        self._closed = True
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
