"""What re-sending dead letters does, each checked before anything is sent, and the re-send with its note.

A dead letter is re-sent only when it can help and undoes nothing: an event
envelope from an event topic of this deployment, that opens with the data
keys, not re-sent before, whose message is still on its topic with no later
event of the same key after it (but those re-sent with it; on a topic of
ORDER_FREE, any). Refused says why not. Each re-send is confirmed before the
next goes, and leaves a note on the dead-letter topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from services.cli.dead_letter_topic import REPLAY_OF, headers_of, message_name, message_of, noted_replays, told_replay
from shared.events import Envelope
from shared.kafka.dead_letter_bodies import TRUNCATED_HEADER, open_dead_letter
from shared.kafka.replay import keyed_after, partitions_of, record_at
from shared.kafka.security import KafkaConnection
from shared.sealing import Keyring, SealError
from shared.settings import CommonSettings
from shared.topics import DEAD_LETTER, NOTICES_ISSUED, TopicNames


class Refused(Exception):
    """Why a dead letter is not re-sent, in words an admin can act on."""


@dataclass(frozen=True)
class Replay:
    """What re-sending a dead letter does: the body as it came, to the topic and partition it came from
    (`offset`: where it lay there), under the key it had."""

    topic: str
    partition: int
    offset: int
    body: bytes
    headers: dict[str, str]
    event_id: str
    event_type: str
    group: str
    error: str
    key: bytes | None = None


# each confirmed re-send: its plan, where it went (partition:offset), whether its note was written
Resent = list[tuple[Replay, str, bool]]


PLACE = re.compile(r"([0-9]+):([0-9]+)")


def parse_place(place: str) -> tuple[int, int]:
    found = PLACE.fullmatch(place)
    if found is None:
        raise Refused(f"{place!r} is no place in the dead-letter topic: give partition:offset, e.g. 0:17")
    return int(found[1]), int(found[2])


@dataclass(frozen=True)
class Read:
    """The dead letter as read from its topic."""

    place: str
    headers: dict[str, str]
    value: bytes


def replay_plan(letter: Read, keyring: Keyring, topics: TopicNames) -> Replay:
    """What re-sending `letter` would do, as far as the letter tells; Refused when it cannot help or be done."""
    topic, partition, offset = _source_of(letter, topics)
    body, envelope = _opened(letter, keyring)
    event_id = str(envelope.event_id)
    return Replay(
        topic=topic,
        partition=partition,
        offset=offset,
        body=body,
        headers={"event_type": envelope.type, "event_id": event_id, "replayed_from": letter.place},
        event_id=event_id,
        event_type=envelope.type,
        group=letter.headers.get("consumer_group", ""),
        error=letter.headers.get("error", ""),
    )


def _source_of(letter: Read, topics: TopicNames) -> tuple[str, int, int]:
    """The topic, partition and offset the letter's message came from: an event topic of this deployment,
    and a place within it, without which the message's order among the person's events cannot be kept."""
    headers, place = letter.headers, letter.place
    topic = headers.get("source_topic", "")
    if not topic:
        raise Refused(f"the dead letter at {place} does not say where it came from (from before the headers)")
    if topic not in set(topics.all()) - {topics(DEAD_LETTER)}:
        raise Refused(
            f"the dead letter at {place} came from {topic}, not from an event topic of this deployment "
            f"(POPFLOW_TOPIC_PREFIX={topics.prefix!r})"
        )
    partition, offset = headers.get("source_partition", ""), headers.get("source_offset", "")
    if not (partition.isascii() and partition.isdigit() and offset.isascii() and offset.isdigit()):
        raise Refused(f"the dead letter at {place} does not say where in {topic} it lay: its order cannot be kept")
    return topic, int(partition), int(offset)


def _opened(letter: Read, keyring: Keyring) -> tuple[bytes, Envelope]:
    """The letter's body, whole and opened, and the event envelope it holds: anything else would only be set
    aside again."""
    headers, place = letter.headers, letter.place
    if headers.get(TRUNCATED_HEADER):
        raise Refused(
            f"the dead letter at {place} keeps only the start of a message of {headers[TRUNCATED_HEADER]} bytes, "
            f"too large to keep whole; the message itself is at {message_of(headers)}"
        )
    try:
        body = open_dead_letter(keyring, letter.value, headers)
    except SealError as error:
        raise Refused(f"the dead letter at {place} does not open with POPFLOW_DATA_KEYS: {error}") from None
    try:
        return body, Envelope.model_validate_json(body)
    except ValueError:
        raise Refused(
            f"the dead letter at {place} is no event envelope: every consumer would set it aside again"
        ) from None


# Topics every consumer of which keeps each event under an id of its own (a notice by its notice id): a
# copy re-sent after later events of the person undoes none of them, so it is re-sent all the same.
ORDER_FREE = (NOTICES_ISSUED,)
REBUILD = (
    "Rebuild the service that set it aside instead, which reads them in their order (`popflow routing "
    "rebuild`, `popflow reporting rebuild`; intake and notification keep no state of this kind to rebuild)"
)


def keeps_order(plan: Replay, original: ConsumerRecord | None, later: int, *, order_free: bool = False) -> Replay:
    """The plan with the key the message had, once nothing of the same key follows it on its partition:
    re-sent, it lands at the end, after anything later of the same person, which it could undo (a consumer
    that keeps the latest route or status would take it for the latest). `order_free`: a topic of ORDER_FREE,
    whose later events a late copy cannot undo."""
    where = f"{plan.topic} {plan.partition}:{plan.offset}"
    if original is None:
        raise Refused(
            f"the message it came from ({where}) is gone from the topic: its order among the person's events "
            f"cannot be checked. {REBUILD}"
        )
    if later and not order_free:
        raise Refused(
            f"{later} later event(s) of the same person follow it on {plan.topic} (partition {plan.partition}): "
            "re-sent, it would land after them and could undo them. If they were set aside too, replay them "
            f"with it (`popflow dead-letters replay {plan.headers.get('replayed_from', '<place>')} <their places>`: "
            f"they are re-sent in their order). {REBUILD}"
        )
    return replace(plan, key=original.key)


async def replay_plans(settings: CommonSettings, places: list[tuple[int, int]]) -> list[Replay]:
    """What re-sending the dead letters at `places` does, one plan a message (two services' letters of one
    message are one re-send), in the order the messages came. A later event of the same person is no
    reason to refuse when it is re-sent too, after it."""
    kafka = KafkaConnection.from_settings(settings)
    topics = TopicNames(settings.topic_prefix)
    replayed = await noted_replays(kafka, topics(DEAD_LETTER))
    plans: dict[str, Replay] = {}
    for partition, offset in places:
        letter = await _read(kafka, TopicPartition(topics(DEAD_LETTER), partition), offset)
        plan = replay_plan(letter, settings.keyring(), topics)
        name = message_name(plan.topic, plan.partition, plan.offset)
        if (told := replayed.get(name)) is not None:
            raise Refused(
                f"the message of the dead letter at {letter.place} was {told_replay(told)}. If it was set aside again, "
                "`popflow dead-letters show --pending` lists the newer dead letter to replay"
            )
        plans.setdefault(name, plan)
    ordered = sorted(plans.values(), key=lambda p: (p.topic, p.partition, p.offset))
    order_free_topics = {topics(name) for name in ORDER_FREE}
    checked = []
    for plan in ordered:
        source = TopicPartition(plan.topic, plan.partition)
        original = await _record(kafka, source, plan.offset)
        order_free = plan.topic in order_free_topics
        along = frozenset(p.offset for p in ordered if (p.topic, p.partition) == (plan.topic, plan.partition))
        later = (
            0
            if original is None or order_free
            else await keyed_after(kafka, source, plan.offset, original.key, excluding=along)
        )
        checked.append(keeps_order(plan, original, later, order_free=order_free))
    return checked


async def _read(kafka: KafkaConnection, where: TopicPartition, offset: int) -> Read:
    place = f"{where.partition}:{offset}"
    record = await _record(kafka, where, offset)
    if record is None:
        raise Refused(f"no dead letter at {place}: `popflow dead-letters show` lists where each one lies")
    return Read(place, headers_of(record), bytes(record.value))


async def _record(kafka: KafkaConnection, where: TopicPartition, offset: int) -> ConsumerRecord | None:
    """The record at `offset` of `where`, None when none is there; Refused when the topic has no such partition."""
    if where not in await partitions_of(kafka, [where.topic]):
        raise Refused(f"{where.topic} has no partition {where.partition}")
    return await record_at(kafka, where, offset)


def replay_note(plan: Replay, sent_to: str, *, at: datetime, by: str) -> dict[str, str]:
    """The headers of the note a replay leaves on the dead-letter topic: nothing of the body or the person in it;
    the login of who ran it (kept as long as the topic keeps dead letters)."""
    return {
        REPLAY_OF: message_name(plan.topic, plan.partition, plan.offset),
        "dead_letter": plan.headers["replayed_from"],
        "event_id": plan.event_id,
        "replayed_to": sent_to,
        "replayed_at": at.astimezone(UTC).isoformat(timespec="seconds"),
        "replayed_by": by,
    }


async def resend(settings: CommonSettings, plans: list[Replay], *, by: str, sent: Resent) -> None:
    """Re-send each message in turn, each confirmed before the next goes, and leave the note that says so;
    appends (the plan, where it went, whether the note was written) to `sent` as each is done."""
    producer = AIOKafkaProducer(
        **KafkaConnection.from_settings(settings).options(), enable_idempotence=True, acks="all"
    )
    dead_letters = TopicNames(settings.topic_prefix)(DEAD_LETTER)
    try:
        await producer.start()
        for plan in plans:
            done = await producer.send_and_wait(
                plan.topic,
                plan.body,
                key=plan.key,
                partition=plan.partition,
                headers=_encoded(plan.headers),
            )
            sent_to = f"{done.partition}:{done.offset}"
            note = replay_note(plan, sent_to, at=datetime.now(UTC), by=by)
            try:
                await producer.send_and_wait(dead_letters, b"", headers=_encoded(note))
            except KafkaError:
                sent.append((plan, sent_to, False))  # the re-send stands; only what `show` says of it is missing
                continue
            sent.append((plan, sent_to, True))
    finally:
        await producer.stop()


def _encoded(headers: dict[str, str]) -> list[tuple[str, bytes]]:
    return [(key, value.encode()) for key, value in headers.items()]
