"""`popflow dead-letters show` and `replay`: an admin reads the dead-letter topic, bodies opened, and
sends a message set aside back to where it came from once its cause is mended.

The dead-letter topic keeps bodies sealed (shared.kafka.failures); these
commands are the one place they are opened, on the admin's terminal, with the
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

Here, the commands and what they print; the letters and notes as read from
the topic are in dead_letter_topic.py, what a replay checks and sends in
dead_letter_replays.py.
"""

from __future__ import annotations

import asyncio
import getpass
from typing import Annotated

import typer
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from rich.console import Console
from rich.markup import escape

from services.cli.dead_letter_replays import Refused, Replay, Resent, parse_place, replay_plans, resend
from services.cli.dead_letter_topic import Letters, headers_of, message_of, noted_replays, told_replay
from shared.kafka.dead_letter_bodies import open_dead_letter
from shared.kafka.replay import batches_to_end
from shared.kafka.security import KafkaConnection
from shared.sealing import SealError
from shared.settings import CommonSettings
from shared.topics import DEAD_LETTER, TopicNames

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


async def _show(settings: CommonSettings, limit: int, *, pending: bool) -> None:
    keyring, kafka = settings.keyring(), KafkaConnection.from_settings(settings)
    topic = TopicNames(settings.topic_prefix)(DEAD_LETTER)
    # --pending reads the topic twice: a note may lie in another partition than its letter, before or after it
    skip = frozenset(await noted_replays(kafka, topic)) if pending else frozenset()
    letters = Letters(limit, skip)
    async for records in batches_to_end(kafka, [topic]):
        for record in records:
            letters.add(headers_of(record), bytes(record.value), f"{record.partition}:{record.offset}")
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
            console.print(f"[green]{escape(told_replay(replayed))}[/]")
        console.print(body, markup=False, highlight=False)
    what = "not re-sent" if pending else f"{resent} of them re-sent"
    console.print(f"[dim]{len(letters.shown)} dead letter(s) shown, {what}.[/]")


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
    sent: Resent = []  # filled as each re-send is confirmed
    resending: list[Replay] | None = None  # the plans, once their re-send has begun
    try:
        resending = _agreed_plans(settings, [parse_place(place) for place in places], ask=not yes)
        asyncio.run(resend(settings, resending, by=_account(), sent=sent))
    except Refused as refused:
        console.print(f"[red]popflow: {escape(str(refused))}[/]")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        _say_sent(sent)  # what was confirmed before the Ctrl-C, so it is not replayed twice
        _say_interrupted(sent, resending)
        raise typer.Exit(130) from None
    except KafkaConnectionError:
        _say_sent(sent)
        raise  # `popflow: cannot reach Kafka ...`, exit 3 (services/cli/unreachable.py)
    except KafkaError as error:
        _say_sent(sent)
        _say_kafka_failed(error, sent, resending)  # exits, unless only closing timed out after every re-send
        return
    _say_sent(sent)
    console.print(
        "Every consumer group of the topic reads it again: those that handled it skip it or keep it as they did "
        "(by its event id, or the notice or record it names); one that cannot handle it yet sets it aside again."
    )


def _agreed_plans(settings: CommonSettings, wanted: list[tuple[int, int]], *, ask: bool) -> list[Replay]:
    """The re-sends, each shown; when `ask`, only once the admin agrees to them (typer.Exit(1) when not)."""
    plans = asyncio.run(replay_plans(settings, wanted))
    for plan in plans:
        console.print(
            f"{plan.headers['replayed_from']}: event {plan.event_id} ({escape(plan.event_type)}), set aside by "
            f"{escape(plan.group or 'a consumer')}: {escape(plan.error)}"
        )
    if not ask:
        return plans
    where = ", ".join(sorted({f"{p.topic}, partition {p.partition}" for p in plans}))
    if not typer.confirm(f"Re-send {'it' if len(plans) == 1 else f'these {len(plans)}'} to {where}?"):
        raise typer.Exit(1)
    # checked again: an event of the person, or another admin's replay, may have come while it asked
    return asyncio.run(replay_plans(settings, wanted))


def _say_interrupted(sent: Resent, resending: list[Replay] | None) -> None:
    """After a Ctrl-C mid-way through the re-sends: the one under way may have reached its topic or not, so the
    admin looks before replaying it again; those after it were not re-sent."""
    if resending is None or len(sent) >= len(resending):
        return
    plan, left = resending[len(sent)], len(resending) - len(sent) - 1
    console.print(
        f"[yellow]popflow: stopped while re-sending {plan.headers['replayed_from']}: it may have reached "
        f"{escape(plan.topic)} (partition {plan.partition}) or not; look for event {plan.event_id} at the "
        f"end of that partition before replaying it again.[/]" + (f" {left} after it were not re-sent." if left else "")
    )


def _say_kafka_failed(error: KafkaError, sent: Resent, resending: list[Replay] | None) -> None:
    """Exits with what Kafka's error leaves in doubt: 3 when a re-send was not confirmed in time, 2 when Kafka
    refused. Returns only when every re-send was confirmed and the timeout came after, as the producer closed."""
    if isinstance(error, KafkaTimeoutError) and resending is not None:
        if len(sent) == len(resending):
            console.print("[yellow]popflow: every re-send was confirmed; Kafka then timed out as it closed.[/]")
            return
        plan = resending[len(sent)]  # the one whose re-send was not confirmed
        console.print(
            f"[red]popflow: Kafka did not confirm the re-send in time: it may have reached {escape(plan.topic)} "
            f"(partition {plan.partition}) or not.[/] Before replaying {plan.headers['replayed_from']} again, "
            f"look for event {plan.event_id} at the end of that partition: a second copy is handled once, but "
            "lands after anything that came meanwhile."
        )
        raise typer.Exit(3) from None
    console.print(f"[red]popflow: Kafka refused it: {type(error).__name__}[/]")
    raise typer.Exit(2) from None


def _say_sent(sent: Resent) -> None:
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
