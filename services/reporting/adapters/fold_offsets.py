"""Where the fold's batches start and end in their partitions: committed once folded, read again when one fails.

The fold (entrypoints/kafka.py) commits a batch's offsets only after its write. A batch that fails (its dead
letter refused) is read again, with the batch fetched meanwhile (not written, not committed), from each
partition's first message not done (shared.kafka.progress), as a subscriber's failed batch is: what was set
aside before the refusal is not set aside again. That offset is committed where a message was done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka.errors import CommitFailedError

from shared.kafka.progress import Partition, Progress

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Fetched:
    """What one fetch brought: each partition's messages, in order."""

    parts: dict[Any, list[Any]]

    @property
    def messages(self) -> list[Any]:
        return [m for ms in self.parts.values() for m in ms]

    def starts(self) -> dict[Any, int]:
        return {tp: part[0].offset for tp, part in self.parts.items() if part}

    def ends(self) -> dict[Any, int]:
        """The offsets to commit once the fetch is folded."""
        return {tp: part[-1].offset + 1 for tp, part in self.parts.items() if part}


async def commit(consumer: Any, offsets: dict[Any, int]) -> None:
    try:
        await consumer.commit(offsets)
    except CommitFailedError:
        # A rebalance took the partitions; their new owner re-reads them, harmlessly.
        log.warning("offset commit lost to a rebalance")


def read_again_at(written: Progress, fetched: Fetched) -> dict[Partition, int]:
    """Per partition, where the fold reads again once the batch `written` failed: its first message not done;
    in a partition `written` did not read, the start of the batch `fetched` meanwhile."""
    resume = written.resume()
    for tp, offset in fetched.starts().items():
        part = (tp.topic, tp.partition)
        resume[part] = min(offset, resume.get(part, offset))
    return resume
