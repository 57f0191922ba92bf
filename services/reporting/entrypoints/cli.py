"""`popflow reporting ...`: operate the reporting store."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer
from faststream.kafka import KafkaBroker
from rich.console import Console

from services.reporting.adapters.fold import FactWriter
from services.reporting.adapters.fold_set_aside import DeadLetterRefused
from services.reporting.adapters.tables import DECISIONS, holds_rows
from services.reporting.bootstrap import FOLDED_TOPICS, GROUP, MIGRATIONS, build_fold
from services.reporting.entrypoints.kafka import replay
from services.reporting.settings import ReportingSettings
from shared.db import build_engine, run_migrations
from shared.db.engine import reading
from shared.kafka.groups import group_members
from shared.kafka.lag import BrokerOffsets
from shared.kafka.security import KafkaConnection
from shared.progress import Advance, progress
from shared.topics import TopicNames

app = typer.Typer(help="Reporting: rebuild the store from the topics.")
console = Console()


@app.command()
def rebuild(
    into: Annotated[str, typer.Option(help="SQLAlchemy URL of a fresh, empty database to build")],
    copy_decisions: Annotated[
        bool, typer.Option(help="Copy sign-offs, spot checks and campaigns from REPORTING_DATABASE_URL")
    ] = True,
) -> None:
    """Replay every reporting topic from the beginning into a fresh store.

    The facts come from Kafka; the bureau's own decisions, which exist only
    in the store, are copied from the current one. Stop reporting first (the
    rebuild refuses while its consumer group has members), then rebuild, point
    REPORTING_DATABASE_URL at the new store and start reporting: its consumer
    group goes on from where it stopped, and re-folding anything twice changes
    nothing.
    """
    started = time.monotonic()
    try:
        with progress("Folding into the new store", unit="events") as advance:
            read = asyncio.run(_rebuild(ReportingSettings(), into, copy_decisions, advance))
    except RebuildRefused as error:
        typer.echo(f"refused: {error}", err=True)
        raise typer.Exit(2) from error
    except DeadLetterRefused as error:
        typer.echo(f"stopped: {error}; {LETTER_REFUSED}", err=True)
        raise typer.Exit(2) from error
    console.print(f"rebuilt: {read} events folded into the new store in {time.monotonic() - started:.1f} s")


class RebuildRefused(RuntimeError):
    """A rebuild that would give a wrong store; the message says what the operator does about it."""


class StoreNotEmpty(RebuildRefused):
    """The target store holds facts or decisions already; a rebuild starts from nothing."""


class ReportingRunning(RebuildRefused):
    """Reporting folds while the rebuild runs: what it folds after the replay's end offsets goes into the old
    store and its group commits past it, so the new store would never get it; nor the decisions taken after
    they were copied."""


STOP_FIRST = (
    "reporting is running: stop the reporting service ({members} in group {group}), then rebuild,"
    " point REPORTING_DATABASE_URL at the new store, start it"
)
LETTER_REFUSED = (
    "the new store lacks that batch and every one after it: drop it, let the dead-letter topic take the message"
    " (reporting's grants on it, its max.message.bytes), then rebuild again"
)
RAN_MEANWHILE = (
    "reporting folded while the rebuild ran (group {group} committed new offsets, {members} now): the new"
    " store may lack events and decisions; drop it, stop the reporting service, then rebuild again"
)


async def _rebuild(settings: ReportingSettings, into: str, copy_decisions: bool, advance: Advance) -> int:
    kafka = KafkaConnection.from_settings(settings)
    topics = TopicNames(settings.topic_prefix)
    group = topics(GROUP)
    if members := await group_members(kafka, group):
        raise ReportingRunning(STOP_FIRST.format(members=_members(members), group=group))
    target = build_engine(into)
    broker = KafkaBroker(kafka.bootstrap, security=kafka.security())
    offsets = BrokerOffsets(kafka)
    try:
        await run_migrations(target, MIGRATIONS)
        if await holds_rows(target):
            raise StoreNotEmpty("the target store holds facts or decisions already; give an empty database")
        committed = await offsets.committed(group)
        if copy_decisions:
            await _copy_decisions(settings.database_url, target)
        await broker.start()
        fold = build_fold(settings, FactWriter(target), broker, topics)
        read = await replay(
            kafka=kafka,
            topics=[topics(t) for t in FOLDED_TOPICS],
            fold=fold,
            batch_max=settings.fold_batch,
            on_batch=advance,
        )
        # started meanwhile (and perhaps stopped again): its commits are the trace it leaves
        members = await group_members(kafka, group)
        if members or await offsets.committed(group) != committed:
            raise ReportingRunning(RAN_MEANWHILE.format(members=_members(members), group=group))
        return read
    finally:
        await offsets.close()
        await broker.stop()
        await target.dispose()


def _members(count: int) -> str:
    return f"{count} member" if count == 1 else f"{count} members"


async def _copy_decisions(source_url: str, target: object) -> None:
    source = build_engine(source_url)
    try:
        async with reading(source).connect() as read, target.begin() as writing:  # type: ignore[attr-defined]
            # one snapshot for every table: a key area and its marks, a sign-off and its steps, copied as they
            # stood together even while the live service goes on writing (on SQLite, a transaction's reads
            # are one snapshot: build_engine begins it)
            if source.dialect.name == "postgresql":
                await read.execution_options(isolation_level="REPEATABLE READ")
            for table in DECISIONS:
                rows = [dict(row._mapping) for row in (await read.execute(table.select())).all()]
                if rows:
                    await writing.execute(table.insert(), rows)
    finally:
        await source.dispose()
