"""`popflow dead-letters show` lists each message set aside once, with how often it was."""

from __future__ import annotations

from services.cli.dead_letters import Letters


def letter(
    offset: str,
    error: str = "DataError: 22021",
    topic: str = "popflow.records.rejected",
    group: str = "popflow.reporting",
) -> dict[str, str]:
    return {
        "source_topic": topic,
        "source_partition": "0",
        "source_offset": offset,
        "consumer_group": group,
        "error_type": error.split(":")[0],
        "error": error,
    }


def test_a_message_set_aside_again_for_the_same_reason_is_listed_once_with_its_count() -> None:
    letters = Letters(limit=10)
    for headers in (letter("7"), letter("9"), letter("7"), letter("7", "ValidationError: /payload"), letter("7")):
        letters.add(headers, b"sealed")
    assert [(h.headers["source_offset"], h.headers["error"], h.times) for h in letters.shown.values()] == [
        ("7", "DataError: 22021", 3),
        ("9", "DataError: 22021", 1),
        ("7", "ValidationError: /payload", 1),  # another reason: another service, or another failure
    ]


def test_the_limit_counts_messages_and_their_repeats_past_it_are_still_counted() -> None:
    letters = Letters(limit=2)
    for offset in ("1", "2", "3", "1", "4", "2"):
        letters.add(letter(offset), b"sealed")
    assert [(h.headers["source_offset"], h.times) for h in letters.shown.values()] == [("1", 2), ("2", 2)]


def test_dead_letters_that_do_not_say_where_they_came_from_each_stand_alone() -> None:
    letters = Letters(limit=10)
    for _ in range(3):
        letters.add({"error_type": "ValueError", "error": "x"}, b"body")
    assert [h.times for h in letters.shown.values()] == [1, 1, 1]


def test_one_message_set_aside_by_two_services_for_one_reason_is_listed_once_for_each() -> None:
    letters = Letters(limit=10)
    for group in ("popflow.routing", "popflow.reporting", "popflow.routing"):
        letters.add(letter("7", group=group), b"sealed")
    assert [(h.headers["consumer_group"], h.times) for h in letters.shown.values()] == [
        ("popflow.routing", 2),
        ("popflow.reporting", 1),
    ]
