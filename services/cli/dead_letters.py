"""`popflow dead-letters show`: an admin reads the dead-letter topic, bodies opened.

The dead-letter topic keeps bodies sealed (shared.kafka.failures); this is
the one place they are opened, on the admin's terminal, with the
deployment's own settings (POPFLOW_DATA_KEYS, POPFLOW_TOPIC_PREFIX, ...).

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
from rich.console import Console
from rich.markup import escape

from shared.kafka.failures import open_dead_letter
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
) -> None:
    """Print each dead letter: where it came from, why, and its body (opened with the data keys)."""
    settings = CommonSettings()
    asyncio.run(_show(settings, limit))


@dataclass
class Letter:
    """One message set aside for one reason, and how many dead letters say so."""

    headers: dict[str, str]
    value: bytes
    times: int = 1


class Letters:
    """The first `limit` distinct dead letters, oldest first, each with its repeats counted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.shown: dict[tuple[str, ...], Letter] = {}

    def add(self, headers: dict[str, str], value: bytes) -> None:
        # a source offset names one message; without one (a dead letter from before the headers) each stands alone
        same = (
            *(headers.get(h, "") for h in SAME_MESSAGE),
            str(len(self.shown)) if not headers.get("source_offset") else "",
        )
        seen = self.shown.get(same)
        if seen is not None:
            seen.times += 1
        elif len(self.shown) < self.limit:
            self.shown[same] = Letter(headers, value)


SAME_MESSAGE = ("source_topic", "source_partition", "source_offset", "consumer_group", "error_type", "error")


async def _show(settings: CommonSettings, limit: int) -> None:
    keyring, letters = settings.keyring(), Letters(limit)
    topic = TopicNames(settings.topic_prefix)(DEAD_LETTER)
    async for records in batches_to_end(KafkaConnection.from_settings(settings), [topic]):
        for record in records:
            letters.add({key: value.decode(errors="replace") for key, value in record.headers}, bytes(record.value))
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
            f"[bold]{escape(headers.get('source_topic', ''))}[/]{by} "
            f"{escape(headers.get('error_type', ''))}: {escape(headers.get('error', ''))}{times}"
        )
        console.print(body, markup=False, highlight=False)
