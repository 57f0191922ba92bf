"""`popflow dead-letters show` lists each message set aside once, with how often it was."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from aiokafka import ConsumerRecord

from services.cli.dead_letter_replays import Read, Refused, keeps_order, parse_place, replay_note, replay_plan
from services.cli.dead_letter_topic import REPLAY_OF, Letters, Replayed, message_of
from shared.events import Envelope
from shared.kafka.failures import SEALED_HEADER, dead_letter_headers, seal_dead_letter
from shared.sealing import Keyring, parse_keyring
from shared.topics import DEAD_LETTER, RECORDS_SUBMITTED, TopicNames
from tests.support.infra import TEST_KEYRING
from tests.support.kafka import submitted
from tests.support.records import record


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


KEYS = TEST_KEYRING
TOPICS = TopicNames("popflow.")


def dead_letter(body: bytes, **headers: str) -> Read:
    source = type("Source", (), {"topic": TOPICS(RECORDS_SUBMITTED), "partition": 1, "offset": 40})()
    full = dead_letter_headers(source, "SealError", "sealed with key id 'k2'", group="popflow.routing") | headers
    full["sealed"] = SEALED_HEADER
    return Read("0:17", full, seal_dead_letter(KEYS, body, full))


def test_a_dead_letter_is_planned_back_to_its_topic_and_partition_as_it_came() -> None:
    body = submitted(record(sequence=5)).model_dump_json().encode()
    plan = replay_plan(dead_letter(body), KEYS, TOPICS)
    assert (plan.topic, plan.partition, plan.offset, plan.body) == (TOPICS(RECORDS_SUBMITTED), 1, 40, body)
    assert plan.headers == {
        "event_type": "RecordSubmitted",
        "event_id": str(Envelope.model_validate_json(body).event_id),
        "replayed_from": "0:17",
    }
    assert (plan.group, plan.error) == ("popflow.routing", "sealed with key id 'k2'")


@pytest.mark.parametrize(
    ("body", "headers", "keyring", "said"),
    [
        (b"not json", {}, KEYS, "no event envelope"),
        (b"{}", {"source_topic": "other.records.submitted"}, KEYS, "not from an event topic of this deployment"),
        (b"{}", {"source_topic": "popflow.staging.records.submitted"}, KEYS, "not from an event topic"),
        (b"{}", {"source_topic": TOPICS(DEAD_LETTER)}, KEYS, "not from an event topic of this deployment"),
        (b"{}", {"source_partition": ""}, KEYS, "does not say where in"),
        (b"{}", {"source_offset": "\u00b2"}, KEYS, "does not say where in"),
        (b"{}", {"source_topic": ""}, KEYS, "does not say where it came from"),
        (b"{}", {}, parse_keyring(f"other:{'A' * 43}=", "other"), "does not open with POPFLOW_DATA_KEYS"),
    ],
)
def test_a_dead_letter_that_cannot_be_re_sent_is_refused_with_the_reason(
    body: bytes, headers: dict[str, str], keyring: Keyring, said: str
) -> None:
    with pytest.raises(Refused, match=said):
        replay_plan(dead_letter(body, **headers), keyring, TOPICS)


@pytest.mark.parametrize("place", ["17", "0:", ":17", "a:b", "0:-1", "", "0:\u00b2", "0:17 "])
def test_a_place_is_partition_colon_offset(place: str) -> None:
    with pytest.raises(Refused, match="partition:offset"):
        parse_place(place)
    assert parse_place("3:170") == (3, 170)


def test_a_dead_letter_is_re_sent_under_its_key_only_when_nothing_of_the_person_follows_it() -> None:
    plan = replay_plan(dead_letter(submitted(record(sequence=6)).model_dump_json().encode()), KEYS, TOPICS)
    original = ConsumerRecord(
        topic=TOPICS(RECORDS_SUBMITTED),
        partition=1,
        offset=40,
        timestamp=0,
        timestamp_type=0,
        key=b"person-key",
        value=b"{}",
        checksum=None,
        serialized_key_size=10,
        serialized_value_size=2,
        headers=[],
    )
    assert keeps_order(plan, original, later=0).key == b"person-key"
    with pytest.raises(Refused, match="2 later event"):
        keeps_order(plan, original, later=2)
    with pytest.raises(Refused, match="gone from the topic"):
        keeps_order(plan, None, later=0)
    # issued notices: each consumer keeps a notice by its id, so a late copy undoes none of the later ones
    assert keeps_order(plan, original, later=2, order_free=True).key == b"person-key"
    with pytest.raises(Refused, match="popflow routing rebuild"):
        keeps_order(plan, original, later=1)


def test_a_replay_leaves_a_note_of_the_message_where_it_went_when_and_by_whom_and_nothing_of_the_body() -> None:
    body = submitted(record(sequence=7)).model_dump_json().encode()
    plan = replay_plan(dead_letter(body), KEYS, TOPICS)
    at = datetime(2026, 12, 4, 18, 30, 5, 123, tzinfo=timezone(timedelta(hours=8)))
    note = replay_note(plan, "1:52", at=at, by="admin")
    assert note == {
        REPLAY_OF: f"{TOPICS(RECORDS_SUBMITTED)} 1:40",
        "dead_letter": "0:17",
        "event_id": plan.event_id,
        "replayed_to": "1:52",
        "replayed_at": "2026-12-04T10:30:05+00:00",
        "replayed_by": "admin",
    }
    person = record(sequence=7)["person"]
    assert not any(person["id_number"] in value or person["name"] in value for value in note.values())


def test_a_note_marks_every_letter_of_its_message_re_sent_and_is_no_letter_itself() -> None:
    letters = Letters(limit=10)
    letters.add(letter("7"), b"sealed", "0:3")
    letters.add(letter("7", group="popflow.routing"), b"sealed", "0:4")
    letters.add(letter("9"), b"sealed", "0:5")
    first = {REPLAY_OF: "popflow.records.rejected 0:7", "dead_letter": "0:3", "replayed_to": "0:12"}
    letters.add(first | {"replayed_at": "2026-12-04T10:30:05+00:00", "replayed_by": "admin"}, b"", "0:6")
    letters.add(first | {"replayed_to": "0:13", "replayed_by": "ops"}, b"", "0:8")  # a later replay is told
    assert len(letters.shown) == 3
    replayed = {message_of(h.headers): letters.replays.get(message_of(h.headers)) for h in letters.shown.values()}
    assert replayed == {
        "popflow.records.rejected 0:7": Replayed(to="0:13", at="", by="ops", letter="0:3"),
        "popflow.records.rejected 0:9": None,
    }


def test_pending_leaves_out_every_letter_of_a_re_sent_message_and_keeps_the_limit_for_the_others() -> None:
    letters = Letters(limit=2, skip=frozenset({"popflow.records.rejected 0:7"}))
    for offset, group in (("7", "popflow.reporting"), ("7", "popflow.routing"), ("8", "x"), ("9", "x"), ("10", "x")):
        letters.add(letter(offset, group=group), b"sealed")
    assert [h.headers["source_offset"] for h in letters.shown.values()] == ["8", "9"]


def test_a_letter_that_does_not_say_where_it_came_from_names_no_message() -> None:
    assert message_of({"error": "x"}) == ""
    assert message_of(letter("7")) == "popflow.records.rejected 0:7"
