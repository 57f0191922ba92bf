"""`popflow dead-letters show`: an admin reads the dead-letter topic, bodies opened.

The dead-letter topic keeps bodies sealed (shared.kafka.failures); this is
the one place they are opened, on the admin's terminal, with the
deployment's own settings (POPFLOW_DATA_KEYS, POPFLOW_TOPIC_PREFIX, ...).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

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
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many, oldest first")] = 100,
) -> None:
    """Print each dead letter: where it came from, why, and its body (opened with the data keys)."""
    settings = CommonSettings()
    asyncio.run(_show(settings, limit))


async def _show(settings: CommonSettings, limit: int) -> None:
    keyring, shown = settings.keyring(), 0
    topic = TopicNames(settings.topic_prefix)(DEAD_LETTER)
    async for records in batches_to_end(KafkaConnection.from_settings(settings), [topic]):
        for record in records:
            if shown == limit:
                return
            headers = {key: value.decode(errors="replace") for key, value in record.headers}
            try:
                body = open_dead_letter(keyring, bytes(record.value), headers).decode(errors="replace")
            except SealError as error:
                body = f"(does not open: {error})"
            console.print(f"[bold]{headers.get('source_topic')}[/] {headers.get('error_type')}: {headers.get('error')}")
            console.print(body, markup=False, highlight=False)
            shown += 1
