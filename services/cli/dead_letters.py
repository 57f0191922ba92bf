"""`popflow dead-letters show` and `replay`: an admin reads the dead-letter topic, bodies opened, and
sends a message set aside back to where it came from once its cause is mended.

The dead-letter topic keeps bodies sealed (shared.kafka.failures); this is
the one place they are opened, on the admin's terminal, with the
deployment's own settings (POPFLOW_DATA_KEYS, POPFLOW_TOPIC_PREFIX, ...).

`replay 0:17` re-sends the dead letter at partition 0, offset 17 of the
dead-letter topic (`show` prints each one's place) to its source topic, in
the partition it came from, so that it keeps its place among the person's
events. Every consumer group of that topic reads it again: those that
handled it skip it by its event id (every consumer is idempotent), the one
that set it aside tries again, and sets it aside again if its cause is not
mended. Only an event envelope of this deployment's topics is re-sent:
bytes that never were an event would only be set aside again.

A message set aside again for the same reason by the same consumer group (a
`popflow reporting rebuild` or a replay reads it anew) is shown once, with how
often it was set aside. One event read by two services may be set aside by
both: each says which group set it aside, and they are shown apart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

import typer
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.markup import escape

from shared.events import Envelope
from shared.kafka.failures import open_dead_letter
from shared.kafka.replay import batches_to_end, partitions_of, record_at
from shared.kafka.security import KafkaConnection
from shared.sealing import Keyring, SealError
from shared.settings import CommonSettings
from shared.topics import DEAD_LETTER, TopicNames

app = typer.Typer(help="The dead-letter topic: what could never be handled, and why.")
console = Console()


@app.command()
def show(
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many messages, oldest first")] = 100,
) -> None:
    """Print each dead letter: where it came from, why, and its body (opened with the data keys)."""
    settings = CommonSettings()
    asyncio.run(_show(settings, limit))


@dataclass
class Letter:
    """One message set aside for one reason, how many dead letters say so, and where the first one lies
    in the dead-letter topic (`partition:offset`, what `replay` takes)."""

    headers: dict[str, str]
    value: bytes
    times: int = 1
    place: str = ""


class Letters:
    """The first `limit` distinct dead letters, oldest first, each with its repeats counted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.shown: dict[tuple[str, ...], Letter] = {}

    def add(self, headers: dict[str, str], value: bytes, place: str = "") -> None:
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


async def _show(settings: CommonSettings, limit: int) -> None:
    keyring, letters = settings.keyring(), Letters(limit)
    topic = TopicNames(settings.topic_prefix)(DEAD_LETTER)
    async for records in batches_to_end(KafkaConnection.from_settings(settings), [topic]):
        for record in records:
            headers = {key: value.decode(errors="replace") for key, value in record.headers}
            letters.add(headers, bytes(record.value), f"{record.partition}:{record.offset}")
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
        console.print(body, markup=False, highlight=False)


@app.command()
def replay(
    place: Annotated[str, typer.Argument(help="Where the dead letter lies, partition:offset, as `show` prints it")],
    yes: Annotated[bool, typer.Option("--yes", help="Re-send without asking")] = False,
) -> None:
    """Send a dead letter back to the topic and partition it came from, once its cause is mended."""
    settings = CommonSettings()
    try:
        partition, offset = parse_place(place)
        letter = asyncio.run(_read(settings, partition, offset))
        plan = replay_plan(letter, settings.keyring(), TopicNames(settings.topic_prefix))
        console.print(
            f"{place}: event {plan.event_id} ({escape(plan.event_type)}), set aside by "
            f"{escape(plan.group or 'a consumer')}: {escape(plan.error)}"
        )
        where = f"partition {plan.partition}" if plan.partition is not None else "a partition the producer picks"
        if not yes and not typer.confirm(f"Re-send it to {plan.topic}, {where}?"):
            raise typer.Exit(1)
        sent_to = asyncio.run(_resend(settings, plan))
    except Refused as refused:
        console.print(f"[red]popflow: {escape(str(refused))}[/]")
        raise typer.Exit(2) from None
    except (TimeoutError, KafkaError) as error:
        console.print(
            f"[red]popflow: cannot reach Kafka at {settings.kafka_bootstrap_servers} ({type(error).__name__})[/]"
        )
        raise typer.Exit(3) from None
    console.print(
        f"re-sent to {escape(plan.topic)} at {sent_to}. Every consumer group of the topic reads it again: "
        "those that handled it skip it by its event id; one that cannot handle it yet sets it aside again."
    )


class Refused(Exception):
    """Why a dead letter is not re-sent, in words an admin can act on."""


@dataclass(frozen=True)
class Replay:
    """What re-sending a dead letter does: the body as it came, to the topic and partition it came from."""

    topic: str
    partition: int | None
    body: bytes
    headers: dict[str, str]
    event_id: str
    event_type: str
    group: str
    error: str


def parse_place(place: str) -> tuple[int, int]:
    partition, sep, offset = place.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise Refused(f"{place!r} is no place in the dead-letter topic: give partition:offset, e.g. 0:17")
    return int(partition), int(offset)


@dataclass(frozen=True)
class Read:
    """The dead letter as read from its topic."""

    place: str
    headers: dict[str, str]
    value: bytes


def replay_plan(letter: Read, keyring: Keyring, topics: TopicNames) -> Replay:
    """What re-sending `letter` would do; Refused when it cannot help or cannot be done."""
    headers = letter.headers
    topic = headers.get("source_topic", "")
    if not topic:
        raise Refused(
            f"the dead letter at {letter.place} does not say where it came from (a dead letter from "
            "before the headers): re-send it by hand"
        )
    if not topic.startswith(topics.prefix) or topic == topics(DEAD_LETTER):
        raise Refused(
            f"the dead letter at {letter.place} came from {topic}, not from a topic of this deployment "
            f"(POPFLOW_TOPIC_PREFIX={topics.prefix!r})"
        )
    try:
        body = open_dead_letter(keyring, letter.value, headers)
    except SealError as error:
        raise Refused(f"the dead letter at {letter.place} does not open with POPFLOW_DATA_KEYS: {error}") from None
    try:
        envelope = Envelope.model_validate_json(body)
    except ValueError:
        raise Refused(
            f"the dead letter at {letter.place} is no event envelope: every consumer would set it aside again"
        ) from None
    partition = headers.get("source_partition", "")
    return Replay(
        topic=topic,
        partition=int(partition) if partition.isdigit() else None,
        body=body,
        headers={"event_type": envelope.type, "event_id": str(envelope.event_id), "replayed_from": letter.place},
        event_id=str(envelope.event_id),
        event_type=envelope.type,
        group=headers.get("consumer_group", ""),
        error=headers.get("error", ""),
    )


async def _read(settings: CommonSettings, partition: int, offset: int) -> Read:
    kafka = KafkaConnection.from_settings(settings)
    topic = TopicNames(settings.topic_prefix)(DEAD_LETTER)
    place = f"{partition}:{offset}"
    if TopicPartition(topic, partition) not in await partitions_of(kafka, [topic]):
        raise Refused(f"{topic} has no partition {partition}")
    record = await record_at(kafka, TopicPartition(topic, partition), offset)
    if record is None:
        raise Refused(f"no dead letter at {place}: `popflow dead-letters show` lists where each one lies")
    return Read(place, {key: value.decode(errors="replace") for key, value in record.headers}, bytes(record.value))


async def _resend(settings: CommonSettings, plan: Replay) -> str:
    kafka = KafkaConnection.from_settings(settings)
    if plan.partition is not None and TopicPartition(plan.topic, plan.partition) not in await partitions_of(
        kafka, [plan.topic]
    ):
        raise Refused(f"{plan.topic} has no partition {plan.partition} (any more)")
    producer = AIOKafkaProducer(**kafka.options(), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            plan.topic,
            plan.body,
            partition=plan.partition,
            headers=[(key, value.encode()) for key, value in plan.headers.items()],
        )
    finally:
        await producer.stop()
    return f"{sent.partition}:{sent.offset}"
