"""Where a batch that failed part way is read again from (shared.kafka.progress), table-driven."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from shared.kafka.progress import Progress, Where, done_count, moved_on, resume_offsets

A, B = ("a", 0), ("a", 1)


def batch(part: tuple[str, int], *offsets: int) -> list[Where]:
    return [(*part, offset) for offset in offsets]


@pytest.mark.parametrize(
    ("read", "not_done", "resume"),
    [
        (batch(A, 3, 4, 5), [], {A: 6}),  # all done: past the last
        (batch(A, 3, 4, 5), batch(A, 3, 4, 5), {A: 3}),  # nothing done: the batch's start
        (batch(A, 3, 4, 5), batch(A, 5, 4), {A: 4}),  # the first not done, whatever the order given
        (batch(A, 3, 5, 9), batch(A, 9), {A: 9}),  # offsets with gaps (compacted, transactional markers)
        (batch(A, 3, 4) + batch(B, 7, 8), batch(B, 8), {A: 5, B: 8}),  # each partition its own
        (batch(A, 3, 4) + batch(B, 7, 8), batch(A, 3) + batch(B, 7, 8), {A: 3, B: 7}),
        ([], [], {}),
    ],
)
def test_a_batch_is_read_again_from_each_partitions_first_message_not_done(
    read: list[Where], not_done: list[Where], resume: dict[tuple[str, int], int]
) -> None:
    assert resume_offsets(read, not_done) == resume


def test_only_the_partitions_where_a_message_was_done_are_worth_committing() -> None:
    read = batch(A, 3, 4) + batch(B, 7, 8)
    assert moved_on(read, {A: 3, B: 8}) == {B: 8}
    assert moved_on(read, {A: 5, B: 9}) == {A: 5, B: 9}


def test_the_messages_done_are_those_before_where_their_partition_is_read_again_from() -> None:
    read = batch(A, 3, 4, 5) + batch(B, 7, 8)
    assert done_count(read, {A: 5, B: 7}) == 2
    assert done_count(read, {A: 6, B: 9}) == 5


def test_progress_marks_messages_done_as_a_handler_goes() -> None:
    messages = [SimpleNamespace(topic="a", partition=p, offset=o) for p, o in ((0, 3), (0, 4), (1, 7), (1, 8))]
    progress = Progress(messages)
    for message in messages[:3]:
        progress.done(message)
    assert progress.resume() == {A: 5, B: 8}
    assert progress.moved() == {A: 5, B: 8}
