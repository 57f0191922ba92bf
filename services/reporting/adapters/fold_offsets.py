"""Where the fold's batches start and end in their partitions: committed once folded, rewound when one fails.

The fold (entrypoints/kafka.py) commits a batch's offsets only after its write. A batch that fails (its dead
letter refused) is not committed; it and the batch fetched meanwhile, both uncommitted, are read again from
the failed one's start, as FastStream rewinds a subscriber's failed batch (its nack).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka.errors import CommitFailedError

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


def rewind(consumer: Any, *fetches: Fetched) -> None:
    """Each partition of `fetches` (none of them committed) back to where the first of them starts it, as a
    failed subscriber's batch is rewound (FastStream's nack); one taken by a rebalance is its new owner's."""
    starts: dict[Any, int] = {}
    for fetched in fetches:
        for tp, offset in fetched.starts().items():
            starts[tp] = min(offset, starts.get(tp, offset))
    assigned = consumer.assignment()
    for tp, offset in starts.items():
        if tp in assigned:
            consumer.seek(tp, offset)
