"""Where a failed batch must be read again from: per partition, its first message not done.

A batch fails part way (a dead letter Kafka refuses, a database that went
away): some of its messages are done (handled, or set aside with their dead
letter taken by Kafka), others not. Read again from each partition's start,
the batch would set aside again what Kafka already took, a repeat on the
dead-letter topic. Read again from each partition's first message not done,
nothing done is done again there, and nothing not done is skipped: a
partition's messages are done in their order, so everything before that
message is done.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Where = tuple[str, int, int]  # a message's topic, partition and offset
Partition = tuple[str, int]


def where(message: Any) -> Where:
    """A consumer record's (or a stand-in's) topic, partition and offset."""
    return str(message.topic), int(message.partition), int(message.offset)


def resume_offsets(read: Iterable[Where], not_done: Iterable[Where]) -> dict[Partition, int]:
    """Per partition of the batch `read`, the offset to read it again from: its first message in `not_done`,
    or past its last message when every one of them is done."""
    resume: dict[Partition, int] = {}
    for topic, partition, offset in read:
        resume[(topic, partition)] = max(resume.get((topic, partition), offset + 1), offset + 1)
    first: dict[Partition, int] = {}
    for topic, partition, offset in not_done:
        first[(topic, partition)] = min(first.get((topic, partition), offset), offset)
    return {part: min(end, first.get(part, end)) for part, end in resume.items()}


def moved_on(read: Iterable[Where], resume: dict[Partition, int]) -> dict[Partition, int]:
    """Of `resume`, the partitions read again from past where the batch `read` began them."""
    starts: dict[Partition, int] = {}
    for topic, partition, offset in read:
        starts[(topic, partition)] = min(starts.get((topic, partition), offset), offset)
    return {part: offset for part, offset in resume.items() if offset > starts.get(part, offset)}


def done_count(read: Iterable[Where], resume: dict[Partition, int]) -> int:
    """How many messages of `read` lie before where their partitions are read again from: those done."""
    return sum(1 for topic, partition, offset in read if offset < resume.get((topic, partition), offset))


class Progress:
    """The messages of one batch not done yet; a handler marks each as it is done, in its partition's order."""

    def __init__(self, messages: Iterable[Any]) -> None:
        self.read = [where(m) for m in messages]
        self._not_done = set(self.read)

    def done(self, message: Any) -> None:
        self._not_done.discard(where(message))

    def resume(self) -> dict[Partition, int]:
        """Per partition, where to read the batch again from (`resume_offsets`)."""
        return resume_offsets(self.read, self._not_done)

    def moved(self) -> dict[Partition, int]:
        """`resume` of the partitions where a message is done: the offsets worth committing."""
        return moved_on(self.read, self.resume())
