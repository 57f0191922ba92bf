"""`popflow dead-letters show` on a real topic: bodies opened, a message set aside again shown once for each
consumer group that set it aside."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from typer.testing import CliRunner, Result

from services.cli.main import app
from shared.events import NoticePerson, Route, new_envelope
from shared.kafka.admin import ensure_topics
from shared.kafka.failures import SEALED_HEADER, dead_letter_headers, seal_dead_letter
from shared.topics import DEAD_LETTER, NOTICES_ISSUED, RECORDS_SUBMITTED, TopicNames
from tests.support.infra import (
    DATA_KEYS,
    PERSON_KEY_SECRET,
    TEST_KEYRING,
    kafka_bootstrap,
    kafka_connection,
    unique_name,
)
from tests.support.kafka import publish_one, read_topic, submitted
from tests.support.notices import issued_notice
from tests.support.records import id_number, record


async def set_aside(topic: str, offset: int, body: bytes, error: str, group: str = "popflow.reporting") -> None:
    source = type("Source", (), {"topic": "popflow.records.rejected", "partition": 0, "offset": offset})()
    headers = dead_letter_headers(source, "DataError", error, group=group) | {"sealed": SEALED_HEADER}
    await publish_one(topic, seal_dead_letter(TEST_KEYRING, body, headers), headers=headers)


async def test_a_message_set_aside_on_every_rebuild_is_shown_once_with_its_count() -> None:
    prefix = unique_name("deadletters.") + "."
    topic = TopicNames(prefix)(DEAD_LETTER)
    await ensure_topics(kafka_connection(), [topic], partitions=1, replication=1)
    await set_aside(topic, 7, b'{"first": 1}', "22021 refused")
    await set_aside(topic, 9, b'{"second": 2}', "22021 refused")
    await set_aside(topic, 7, b'{"first": 1}', "22021 refused")  # the fold's rebuild set it aside again
    await set_aside(topic, 7, b'{"first": 1}', "22021 refused")
    await set_aside(topic, 9, b'{"second": 2}', "22021 refused", group="popflow.routing")  # another service's

    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap(),
        "POPFLOW_TOPIC_PREFIX": prefix,
        "POPFLOW_DATA_KEYS": DATA_KEYS,
        "POPFLOW_PERSON_KEY_SECRET": PERSON_KEY_SECRET,
    }
    result = await asyncio.to_thread(CliRunner().invoke, app, ["dead-letters", "show"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.count('{"first": 1}') == 1
    assert result.output.count('{"second": 2}') == 2  # once for each group that set it aside
    assert result.output.count("set aside by popflow.reporting") == 2
    assert result.output.count("set aside by popflow.routing") == 1
    assert result.output.count("set aside 3 times") == 1
    assert result.output.index('{"first": 1}') < result.output.index('{"second": 2}')

    one = await asyncio.to_thread(CliRunner().invoke, app, ["dead-letters", "show", "--limit", "1"], env=env)
    assert '{"second": 2}' not in one.output
    assert "set aside 3 times" in one.output


async def routing_set_aside(
    prefix: str, original: bytes, *, partition: int, offset: int, topic: str = RECORDS_SUBMITTED, group: str = "routing"
) -> dict[str, str]:
    """`original`, at `partition:offset` of the deployment's `topic` (submitted records), set aside by `group`
    (routing); the environment `popflow` runs in for that deployment."""
    topics = TopicNames(prefix)
    came_from = type("Source", (), {"topic": topics(topic), "partition": partition, "offset": offset})()
    headers = dead_letter_headers(came_from, "SealError", "sealed with key id 'k2'", group=prefix + group)
    headers |= {"sealed": SEALED_HEADER}
    await publish_one(topics(DEAD_LETTER), seal_dead_letter(TEST_KEYRING, original, headers), headers=headers)
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap(),
        "POPFLOW_TOPIC_PREFIX": prefix,
        "POPFLOW_DATA_KEYS": DATA_KEYS,
        "POPFLOW_PERSON_KEY_SECRET": PERSON_KEY_SECRET,
    }


async def test_a_dead_letter_is_re_sent_to_the_partition_it_came_from_once_asked() -> None:
    prefix = unique_name("replay.") + "."
    topics = TopicNames(prefix)
    source, dead = topics(RECORDS_SUBMITTED), topics(DEAD_LETTER)
    await ensure_topics(kafka_connection(), [source], partitions=2, replication=1)
    await ensure_topics(kafka_connection(), [dead], partitions=1, replication=1)
    original = submitted(record(sequence=41)).model_dump_json().encode()
    await publish_one(source, original, key=b"person-key", partition=1)
    env = await routing_set_aside(prefix, original, partition=1, offset=0)

    def popflow(*args: str, answer: str = "") -> Result:
        return CliRunner().invoke(app, ["dead-letters", *args], env=env, input=answer)

    shown = await asyncio.to_thread(popflow, "show")
    assert "0:0 " in shown.output  # where it lies, as replay takes it

    declined = await asyncio.to_thread(popflow, "replay", "0:0", answer="n\n")
    assert declined.exit_code == 1, declined.output
    missing = await asyncio.to_thread(popflow, "replay", "0:5", "--yes")
    assert missing.exit_code == 2
    assert "no dead letter at 0:5" in missing.output
    assert (await asyncio.to_thread(popflow, "replay", "zero", "--yes")).exit_code == 2

    replayed = await asyncio.to_thread(popflow, "replay", "0:0", "--yes")
    assert replayed.exit_code == 0, replayed.output
    assert "re-sent to" in replayed.output
    messages = await read_topic(source, at_least=2)
    assert [(m.partition, m.key, bytes(m.value)) for m in messages] == [(1, b"person-key", original)] * 2
    assert dict(messages[1].headers)["replayed_from"] == b"0:0"

    # the replay left its note: show says where the message went, --pending leaves it out, a second replay is refused
    shown = await asyncio.to_thread(popflow, "show")
    told = " ".join(shown.output.split())
    assert "re-sent by `replay 0:0` at " in told, told
    assert "it lies now at 1:1" in told
    assert "1 dead letter(s) shown, 1 of them re-sent." in told
    pending = await asyncio.to_thread(popflow, "show", "--pending")
    assert "0:0 " not in pending.output
    assert "0 dead letter(s) shown, not re-sent." in " ".join(pending.output.split())
    again = await asyncio.to_thread(popflow, "replay", "0:0", "--yes")
    assert again.exit_code == 2, again.output
    assert "was re-sent by `replay 0:0`" in " ".join(again.output.split())
    assert len(await read_topic(source, at_least=2)) == 2  # declined, refused: nothing more was sent
    notes = await read_topic(dead, at_least=2)
    assert [bytes(m.value) for m in notes] == [bytes(notes[0].value), b""]  # the note: headers only
    assert dict(notes[1].headers)["replayed_to"] == b"1:1"
    person = record(sequence=41)["person"]
    assert person["id_number"] not in replayed.output  # replay names the event, never the person
    assert person["name"] not in replayed.output


async def test_a_dead_letter_whose_person_has_a_later_event_is_not_re_sent() -> None:
    prefix = unique_name("replay.") + "."
    topics = TopicNames(prefix)
    source, dead = topics(RECORDS_SUBMITTED), topics(DEAD_LETTER)
    await ensure_topics(kafka_connection(), [source, dead], partitions=1, replication=1)
    original = submitted(record(sequence=42)).model_dump_json().encode()
    await publish_one(source, original, key=b"person-key")
    await publish_one(source, submitted(record(sequence=42)).model_dump_json().encode(), key=b"person-key")
    env = await routing_set_aside(prefix, original, partition=0, offset=0)
    refused = await asyncio.to_thread(CliRunner().invoke, app, ["dead-letters", "replay", "0:0", "--yes"], env=env)
    assert refused.exit_code == 2, refused.output
    assert "1 later event(s) of the same person" in " ".join(refused.output.split())
    assert len(await read_topic(source, at_least=2)) == 2
    assert len(await read_topic(dead, at_least=1)) == 1  # nothing re-sent, so no note


def issued(sequence: int, record_id: str) -> bytes:
    notice = issued_notice(
        notice_id=str(uuid.uuid4()),
        record_id=record_id,
        recipient_code="440111008",
        route=Route.CROSS_STREET,
        reason="person lives in your street; please verify",
        person=NoticePerson(name="王五", id_number=id_number(sequence=sequence), residence_address="新市路 1 号"),
        issued_at=datetime.now(UTC),
    )
    envelope = new_envelope(notice, producer="routing", correlation_id=record_id, keyring=TEST_KEYRING)
    return envelope.model_dump_json().encode()


async def test_an_issued_notice_is_re_sent_though_a_later_notice_of_the_person_follows() -> None:
    """Every consumer of issued notices keeps each under its own notice id: a late copy undoes nothing, so a
    notice notification set aside (say, sealed with a key it lacked) is not stuck behind the person's
    reminder."""
    prefix = unique_name("replay.") + "."
    topics = TopicNames(prefix)
    source, dead = topics(NOTICES_ISSUED), topics(DEAD_LETTER)
    await ensure_topics(kafka_connection(), [source, dead], partitions=1, replication=1)
    record_id = str(uuid.uuid4())
    original = issued(43, record_id)
    await publish_one(source, original, key=b"person-key")
    await publish_one(source, issued(43, record_id), key=b"person-key")  # a later notice of the person
    env = await routing_set_aside(prefix, original, partition=0, offset=0, topic=NOTICES_ISSUED, group="notification")
    replayed = await asyncio.to_thread(CliRunner().invoke, app, ["dead-letters", "replay", "0:0", "--yes"], env=env)
    assert replayed.exit_code == 0, replayed.output
    messages = await read_topic(source, at_least=3)
    assert [(m.key, bytes(m.value)) for m in messages][2] == (b"person-key", original)


async def test_two_dead_letters_of_one_person_are_re_sent_together_in_the_order_they_came() -> None:
    """The earlier is refused alone (its later event follows it); named together, both go back, the earlier
    first, so every consumer sees them in the order they came."""
    prefix = unique_name("replay.") + "."
    topics = TopicNames(prefix)
    source, dead = topics(RECORDS_SUBMITTED), topics(DEAD_LETTER)
    await ensure_topics(kafka_connection(), [source, dead], partitions=1, replication=1)
    first = submitted(record(sequence=44)).model_dump_json().encode()
    second = submitted(record(sequence=44)).model_dump_json().encode()
    await publish_one(source, first, key=b"person-key")
    await publish_one(source, second, key=b"person-key")
    env = await routing_set_aside(prefix, first, partition=0, offset=0)
    await routing_set_aside(prefix, second, partition=0, offset=1)

    def popflow(*args: str) -> Result:
        return CliRunner().invoke(app, ["dead-letters", "replay", *args, "--yes"], env=env)

    alone = await asyncio.to_thread(popflow, "0:0")
    assert alone.exit_code == 2, alone.output
    assert "replay 0:0 <their places>" in " ".join(alone.output.split())
    together = await asyncio.to_thread(popflow, "0:1", "0:0")  # named in any order
    assert together.exit_code == 0, together.output
    told = " ".join(together.output.split())
    assert told.index("0:0: re-sent to") < told.index("0:1: re-sent to")
    messages = await read_topic(source, at_least=4)
    assert [bytes(m.value) for m in messages] == [first, second, first, second]
    assert {m.key for m in messages} == {b"person-key"}
    again = await asyncio.to_thread(popflow, "0:0", "0:1")
    assert again.exit_code == 2, again.output  # each left its note
    assert "was re-sent by `replay 0:0`" in " ".join(again.output.split())
