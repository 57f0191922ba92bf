"""A client library's repeated lines (aiokafka with a broker down) are held to one a window, and counted."""

from __future__ import annotations

import logging

import pytest

from shared.logging import QuietRepeats, configure_logging


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def record(name: str, message: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args or None, None)


def passed(quiet: QuietRepeats, records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if quiet.filter(r)]


def test_a_storm_of_one_message_is_one_line_a_window_then_a_count(clock: Clock) -> None:
    quiet = QuietRepeats(window_s=10, clock=clock)
    line = "Unable connect to node with id %s: [Errno 111] Connection refused"
    assert passed(quiet, [record("aiokafka", line, 2) for _ in range(100)]) == [
        "Unable connect to node with id 2: [Errno 111] Connection refused"
    ]
    clock.now += 10.5
    assert passed(quiet, [record("aiokafka", line, 2)]) == [
        "Unable connect to node with id 2: [Errno 111] Connection refused (and 99 more like it in the last 10 s)"
    ]
    clock.now += 11
    # a window with nothing held says nothing more
    assert passed(quiet, [record("aiokafka", line, 2)]) == [
        "Unable connect to node with id 2: [Errno 111] Connection refused"
    ]


def test_a_line_that_differs_in_a_number_is_said_when_it_happens(clock: Clock) -> None:
    """A second broker down, another partition reset: the numbers are what the operator needs."""
    quiet = QuietRepeats(window_s=10, clock=clock)
    down = [
        record("aiokafka", "Unable connect to node with id %s: [Errno 111] Connection refused", n % 2)
        for n in range(50)
    ]
    down.append(record("aiokafka", "Unable connect to node with id %s: [Errno 111] Connection refused", 3))
    assert passed(quiet, down) == [
        "Unable connect to node with id 0: [Errno 111] Connection refused",
        "Unable connect to node with id 1: [Errno 111] Connection refused",
        "Unable connect to node with id 3: [Errno 111] Connection refused",
    ]
    reset = "Fetch offset %s is out of range for partition TopicPartition(topic='t', partition=%s), resetting offset"
    resets = [record("aiokafka.consumer.fetcher", reset, 100, 0), record("aiokafka.consumer.fetcher", reset, 5000, 3)]
    assert len(passed(quiet, resets * 3)) == 2


def test_other_messages_levels_and_loggers_are_held_apart(clock: Clock) -> None:
    quiet = QuietRepeats(window_s=10, clock=clock)
    lines = [
        record("aiokafka", "Unable connect to node with id 2"),
        record("aiokafka", "Unable connect to node with id 2", level=logging.WARNING),
        record("aiokafka.consumer.fetcher", "Unable connect to node with id 2"),
        record("aiokafka.consumer.fetcher", "Failed fetch messages from 2: NodeNotReadyError"),
    ]
    assert len(passed(quiet, lines * 5)) == 4


def test_popflows_own_lines_are_never_held(clock: Clock) -> None:
    quiet = QuietRepeats(window_s=10, clock=clock)
    own = [record("popflow.intake.relay", "outbox relay failed; retrying") for _ in range(50)]
    own += [record("services.routing", "batch handled") for _ in range(50)]
    assert len(passed(quiet, own)) == 100


def test_what_it_remembers_is_bounded(clock: Clock) -> None:
    quiet = QuietRepeats(window_s=10, clock=clock)
    made_up = [
        record("aiokafka", f"message {chr(65 + n % 26)}{chr(65 + n // 26 % 26)}{chr(65 + n // 676)}")
        for n in range(3 * QuietRepeats.KEPT)
    ]
    assert len(passed(quiet, made_up)) == len(made_up)
    assert len(quiet._seen) <= QuietRepeats.KEPT


def test_every_service_logs_through_it() -> None:
    configure_logging(service="test", level="INFO", fmt="json")
    [handler] = logging.getLogger().handlers
    assert any(isinstance(f, QuietRepeats) for f in handler.filters)


def test_a_flood_of_different_lines_neither_lets_a_storm_through_again_nor_loses_its_count(clock: Clock) -> None:
    """Full, the memory forgets the message seen least recently: the storm, seen all along, stays held."""
    quiet = QuietRepeats(window_s=10, clock=clock)
    storm = "Unable connect to node with id 2: [Errno 111] Connection refused"
    lines = []
    for n in range(3 * QuietRepeats.KEPT):
        lines += [record("aiokafka", storm), record("aiokafka.consumer.fetcher", "Fetch offset %s is out of range", n)]
    assert passed(quiet, lines).count(storm) == 1
    assert len(quiet._seen) <= QuietRepeats.KEPT
    clock.now += 10.5
    held = 3 * QuietRepeats.KEPT - 1
    assert passed(quiet, [record("aiokafka", storm)]) == [f"{storm} (and {held} more like it in the last 10 s)"]
