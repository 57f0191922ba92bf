"""The fold's dead letters: tried a few times each, in the order of their messages; then the batch fails.

A dead letter Kafka does not take in SET_ASIDE_TRIES tries raises DeadLetterRefused: the batch holding its
message is not done, and the fold reads it again from its first message not done (fold_offsets.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.kafka.progress import where

# Tries of one dead letter (a pause between) before its batch fails and is read again after a pause
SET_ASIDE_TRIES = 3


class DeadLetterRefused(Exception):
    """Kafka did not take a dead letter in SET_ASIDE_TRIES tries: the batch holding its message is not done."""

    def __init__(self, message: Any, error: Exception) -> None:
        self.where = (str(getattr(message, "topic", "")), getattr(message, "partition", None))
        self.offset = getattr(message, "offset", None)
        self.error_type = type(error).__name__
        topic, partition = self.where
        super().__init__(
            f"the dead-letter topic refused the dead letter of {topic} partition {partition} offset"
            f" {self.offset} {SET_ASIDE_TRIES} times ({self.error_type})"
        )


def in_order(messages: Sequence[Any], aside: list[tuple[Any, str, str]]) -> list[tuple[Any, str, str]]:
    """The dead letters `aside` (message, error type, why) in the order of their messages in the batch."""
    position = {where(m): n for n, m in enumerate(messages)}
    return sorted(aside, key=lambda letter: position[where(letter[0])])
