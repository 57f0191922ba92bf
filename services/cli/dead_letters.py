"""`popflow dead-letters show` and `replay`: an admin reads the dead-letter topic, bodies opened, and
sends a message set aside back to where it came from once its cause is mended.

The dead-letter topic keeps bodies sealed (shared.kafka.failures); this is
the one place they are opened, on the admin's terminal, with the
deployment's own settings (POPFLOW_DATA_KEYS, POPFLOW_TOPIC_PREFIX, ...).

`replay 0:17` re-sends the dead letter at partition 0, offset 17 of the
dead-letter topic (`show` prints each one's place; `replay 0:17 0:18` re-sends
several, in the order their messages came) to its source topic, in
the partition it came from and under its key. Every consumer group of that
topic reads it again: those that handled it skip it (routing, by its event
id) or store it again as it was (by the notice or record it names), the one
that set it aside tries again, and sets it aside again if its cause is not
mended. A re-sent message lands at the end of its partition: when a later
event of the same key follows the original, it is not re-sent (it could
undo that event; a rebuild reads them in order), except on a topic whose
consumers keep every event under its own id (issued notices), where a late
copy undoes nothing. Only an event envelope of
this deployment's event topics is re-sent: bytes that never were an event
would only be set aside again.

A message set aside again for the same reason by the same consumer group (a
`popflow reporting rebuild` or a replay reads it anew) is shown once, with how
often it was set aside. One event read by two services may be set aside by
both: each says which group set it aside, and they are shown apart.

Each replay leaves a note on the dead-letter topic (an empty body; headers
only: which message was re-sent, where to, when and by which account), so
`show` says of a letter that it was re-sent, and `show --pending` lists only
the letters not re-sent yet.
"""

from __future__ import annotations

import asyncio
import getpass
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated

import typer
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from rich.console import Console
from rich.markup import escape

from shared.events import Envelope
from shared.kafka.failures import TRUNCATED_HEADER, open_dead_letter
from shared.kafka.replay import batches_to_end, keyed_after, partitions_of, record_at
from shared.kafka.security import KafkaConnection
from shared.sealing import Keyring, SealError
from shared.settings import CommonSettings
from shared.topics import DEAD_LETTER, NOTICES_ISSUED, TopicNames

app = typer.Typer(help="The dead-letter topic: what could never be handled, and why.")
console = Console()


@app.command()
def show(
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many messages, oldest first")] = 100,
    pending: Annotated[bool, typer.Option("--pending", help="Only the messages not re-sent by `replay` yet")] = False,
) -> None:
    """Print each dead letter: where it came from, why, whether it was re-sent, and its body (opened with the data
    keys)."""
    settings = CommonSettings()
    asyncio.run(_show(settings, limit, pending=pending))


@dataclass
class Letter:
    """One message set aside for one reason, how many dead letters say so, and where the first one lies
    in the dead-letter topic (`partition:offset`, what `replay` takes)."""

    headers: dict[str, str]
    value: bytes
    times: int = 1
    place: str = ""


REPLAY_OF = "replay_of"  # a replay note's header: the message re-sent, as `message_of` names it


def message_name(topic: str, partition: object, offset: object) -> str:
    """How a replay note and `show` name one message of a topic: `<topic> <partition>:<offset>`."""
    return f"{topic} {partition}:{offset}"


def message_of(headers: dict[str, str]) -> str:
    """The message a dead letter set aside (`message_name`); "" when the letter does not say."""
    topic, partition, offset = (headers.get(h, "") for h in ("source_topic", "source_partition", "source_offset"))
    return message_name(topic, partition, offset) if topic and partition and offset else ""


@dataclass(frozen=True)
class Replayed:
    """What a replay note says: the message went back to `to` (`partition:offset` of its topic) at `at`, by `by`."""

    to: str
    at: str
    by: str
    letter: str  # the dead letter's place that `replay` was given

    @classmethod
    def from_note(cls, headers: dict[str, str]) -> Replayed:
        return cls(
            headers.get("replayed_to", ""),
            headers.get("replayed_at", ""),
            headers.get("replayed_by", ""),
            headers.get("dead_letter", ""),
        )


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


class Letters:
    """The first `limit` distinct dead letters, oldest first, each with its repeats counted, and the replay notes.

    `skip`: messages whose letters are left out (with `--pending`, those re-sent already)."""

    def __init__(self, limit: int, skip: frozenset[str] = frozenset()) -> None:
        self.limit = limit
        self.skip = skip
        self.shown: dict[tuple[str, ...], Letter] = {}
        self.replays: dict[str, Replayed] = {}

    def add(self, headers: dict[str, str], value: bytes, place: str = "") -> None:
        if REPLAY_OF in headers:  # a note, not a letter: the latest replay of a message is the one told
            self.replays[headers[REPLAY_OF]] = Replayed.from_note(headers)
            return
        if self.skip and message_of(headers) in self.skip:
            return
        # a source offset names one message; without one (a dead letter from before the headers) each stands alone
        same = (
            *(headers.get(h, "") for h in SAME_MESSAGE),
            str(len(self.shown)) if not headers.get("source_offset") else "",
        )
        seen = self.shown.get(same)
        if seen is not None:
            seen.times += 1
        elif len(self.shown) < self.limit:
            self.shown[same] = Letter(headers, value, place=place)


SAME_MESSAGE = ("source_topic", "source_partition", "source_offset", "consumer_group", "error_type", "error")


async def _show(settings: CommonSettings, limit: int, *, pending: bool) -> None:
    keyring, kafka = settings.keyring(), KafkaConnection.from_settings(settings)
    topic = TopicNames(settings.topic_prefix)(DEAD_LETTER)
    # --pending reads the topic twice: a note may lie in another partition than its letter, before or after it
    skip = frozenset(await _replays(kafka, topic)) if pending else frozenset()
    letters = Letters(limit, skip)
    async for records in batches_to_end(kafka, [topic]):
        for record in records:
            letters.add(_headers(record), bytes(record.value), f"{record.partition}:{record.offset}")
    resent = 0
    for letter in letters.shown.values():
        headers = letter.headers
        try:
            body = open_dead_letter(keyring, letter.value, headers).decode(errors="replace")
        except SealError as error:
            body = f"(does not open: {error})"
        times = f" [dim](set aside {letter.times} times)[/]" if letter.times > 1 else ""
        # dead letters from before the header say nothing of their group
        by = f" [dim]set aside by {escape(headers['consumer_group'])}[/]" if headers.get("consumer_group") else ""
        console.print(
            f"[dim]{letter.place}[/] [bold]{escape(headers.get('source_topic', ''))}[/]{by} "
            f"{escape(headers.get('error_type', ''))}: {escape(headers.get('error', ''))}{times}"
        )
        if (replayed := letters.replays.get(message_of(headers))) is not None:
            resent += 1
            console.print(f"[green]{escape(_told(replayed))}[/]")
        console.print(body, markup=False, highlight=False)
    what = "not re-sent" if pending else f"{resent} of them re-sent"
    console.print(f"[dim]{len(letters.shown)} dead letter(s) shown, {what}.[/]")


def _told(replayed: Replayed) -> str:
    by = replayed.by or "an unknown account"
    return f"re-sent by `replay {replayed.letter}` at {replayed.at} by {by}: it lies now at {replayed.to}"


async def _replays(kafka: KafkaConnection, topic: str) -> dict[str, Replayed]:
    """The replay notes on the dead-letter topic, by the message each re-sent (the latest replay of each)."""
    replays = {}
    async for records in batches_to_end(kafka, [topic]):
        for record in records:
            headers = _headers(record)
            if REPLAY_OF in headers:
                replays[headers[REPLAY_OF]] = Replayed.from_note(headers)
    return replays


@app.command()
def replay(
    places: Annotated[
        list[str],
        typer.Argument(
            help="Where each dead letter lies, partition:offset, as `show` prints it; several of one person are "
            "re-sent together, in the order their messages came"
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Re-send without asking")] = False,
) -> None:
    """Send dead letters back to the topic and partition they came from, once their cause is mended."""
    settings = CommonSettings()
    sent: list[tuple[Replay, str, bool]] = []  # filled as each re-send is confirmed
    resending = False
    try:
        wanted = [parse_place(place) for place in places]
        plans = asyncio.run(_plans(settings, wanted))
        for plan in plans:
            console.print(
                f"{plan.headers['replayed_from']}: event {plan.event_id} ({escape(plan.event_type)}), set aside by "
                f"{escape(plan.group or 'a consumer')}: {escape(plan.error)}"
            )
        if not yes:
            where = ", ".join(sorted({f"{p.topic}, partition {p.partition}" for p in plans}))
            if not typer.confirm(f"Re-send {'it' if len(plans) == 1 else f'these {len(plans)}'} to {where}?"):
                raise typer.Exit(1)
            # checked again: an event of the person, or another admin's replay, may have come while it asked
            plans = asyncio.run(_plans(settings, wanted))
        resending = True
        asyncio.run(_resend(settings, plans, by=_account(), sent=sent))
    except Refused as refused:
        console.print(f"[red]popflow: {escape(str(refused))}[/]")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        _say_sent(sent)  # what was confirmed before the Ctrl-C, so it is not replayed twice
        if resending and len(sent) < len(plans):
            plan, left = plans[len(sent)], len(plans) - len(sent) - 1
            console.print(
                f"[yellow]popflow: stopped while re-sending {plan.headers['replayed_from']}: it may have reached "
                f"{escape(plan.topic)} (partition {plan.partition}) or not; look for event {plan.event_id} at the "
                f"end of that partition before replaying it again.[/]"
                + (f" {left} after it were not re-sent." if left else "")
            )
        raise typer.Exit(130) from None
    except KafkaError as error:
        _say_sent(sent)
        if isinstance(error, KafkaConnectionError):
            raise  # `popflow: cannot reach Kafka ...`, exit 3 (services/cli/unreachable.py)
        if isinstance(error, KafkaTimeoutError) and resending:
            plan = plans[len(sent)]  # the one whose re-send was not confirmed
            console.print(
                f"[red]popflow: Kafka did not confirm the re-send in time: it may have reached {escape(plan.topic)} "
                f"(partition {plan.partition}) or not.[/] Before replaying {plan.headers['replayed_from']} again, "
                f"look for event {plan.event_id} at the end of that partition: a second copy is handled once, but "
                "lands after anything that came meanwhile."
            )
            raise typer.Exit(3) from None
        console.print(f"[red]popflow: Kafka refused it: {type(error).__name__}[/]")
        raise typer.Exit(2) from None
    _say_sent(sent)
    console.print(
        "Every consumer group of the topic reads it again: those that handled it skip it or keep it as they did "
        "(by its event id, or the notice or record it names); one that cannot handle it yet sets it aside again."
    )


def _say_sent(sent: list[tuple[Replay, str, bool]]) -> None:
    for plan, sent_to, noted in sent:
        console.print(f"{plan.headers['replayed_from']}: re-sent to {escape(plan.topic)} at {sent_to}.")
        if not noted:
            console.print(
                "[yellow]The re-send is done, but its note on the dead-letter topic could not be written: "
                "`show` will not say that this letter was re-sent.[/]"
            )


def _account() -> str:
    """Who ran the replay, as the replay note says: the login of the account, never anything from the letter."""
    try:
        return getpass.getuser()[:100]
    except (OSError, KeyError):  # no login name in a container without a passwd entry
        return ""


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
        envelope = Envelope.model_validate_json(body)
    except ValueError:
        raise Refused(
            f"the dead letter at {place} is no event envelope: every consumer would set it aside again"
        ) from None
    return Replay(
        topic=topic,
        partition=int(partition),
        offset=int(offset),
        body=body,
        headers={"event_type": envelope.type, "event_id": str(envelope.event_id), "replayed_from": place},
        event_id=str(envelope.event_id),
        event_type=envelope.type,
        group=headers.get("consumer_group", ""),
        error=headers.get("error", ""),
    )


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


async def _plans(settings: CommonSettings, places: list[tuple[int, int]]) -> list[Replay]:
    """What re-sending the dead letters at `places` does, one plan a message (two services' letters of one
    message are one re-send), in the order the messages came. A later event of the same person is no
    reason to refuse when it is re-sent too, after it."""
    kafka = KafkaConnection.from_settings(settings)
    topics = TopicNames(settings.topic_prefix)
    replayed = await _replays(kafka, topics(DEAD_LETTER))
    plans: dict[str, Replay] = {}
    for partition, offset in places:
        letter = await _read(kafka, TopicPartition(topics(DEAD_LETTER), partition), offset)
        plan = replay_plan(letter, settings.keyring(), topics)
        name = message_name(plan.topic, plan.partition, plan.offset)
        if (told := replayed.get(name)) is not None:
            raise Refused(
                f"the message of the dead letter at {letter.place} was {_told(told)}. If it was set aside again, "
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
    return Read(place, _headers(record), bytes(record.value))


async def _record(kafka: KafkaConnection, where: TopicPartition, offset: int) -> ConsumerRecord | None:
    """The record at `offset` of `where`, None when none is there; Refused when the topic has no such partition."""
    if where not in await partitions_of(kafka, [where.topic]):
        raise Refused(f"{where.topic} has no partition {where.partition}")
    return await record_at(kafka, where, offset)


def _headers(record: ConsumerRecord) -> dict[str, str]:
    return {key: value.decode(errors="replace") for key, value in record.headers}


async def _resend(
    settings: CommonSettings, plans: list[Replay], *, by: str, sent: list[tuple[Replay, str, bool]]
) -> None:
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
