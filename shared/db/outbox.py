"""The outbox relay: publishes events written in the same transaction as their state change.

A service writes its state change and the event's outbox row in one
transaction; the relay publishes unsent rows afterwards, oldest first,
without waiting for each confirmation, then marks as sent exactly the rows
Kafka confirmed. The producer is idempotent with acks=all, so per-partition
order holds through retries. If Kafka is unreachable the rows stay unsent
and the next pass (woken by new work or by the poll interval) tries again;
a crash between publish and mark publishes a row twice with the same event
id, which every consumer deduplicates. With `keep_sent` off
(POPFLOW_OUTBOX_KEEP_DAYS=0) the confirmed rows are deleted instead of
marked: an UPDATE writes the whole row again (its envelope included) and a
new entry in each index, and the purge later deletes it anyway.

A row that can never be published (larger than Kafka takes, an envelope that
no longer opens) is set aside with its error instead of holding back every
row behind it: `set_aside_at` and `error` are filled and an admin sees it
at GET /v1/admin/outbox/set-aside.
The rule that keeps one person's events in order: the later rows of the
SAME key (person key) are held behind a set-aside row, unsent, until an
admin acts on it: `retry` puts it back in line (it is still the oldest of
its key), `discard` gives it up (it stays listed as discarded, never
published) and lets the held rows go. Rows of other keys flow on.

Here are the relay's loop, what it shows on /readyz, and its pass: the rows
read (shared/db/outbox_reads.py), handed to Kafka with each refusal judged
(shared/db/outbox_sends.py, which says which refusal sets a row aside), and
the confirmed ones marked sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from faststream.kafka import KafkaBroker
from sqlalchemy import BigInteger, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from shared.background import woken_or_after
from shared.clock import Clock, SystemClock
from shared.db.among import among
from shared.db.engine import SingleStatements
from shared.db.outbox_failures import UnclearFailures
from shared.db.outbox_reads import Pending, pending, set_aside_keys
from shared.db.outbox_sends import Envelope, OutboxSends
from shared.db.outbox_wakes import ReplicaWakes
from shared.kafka.direct import DirectSender
from shared.metrics import Metrics, Samples
from shared.topics import TopicNames

log = structlog.get_logger(__name__)


# a pass that waits on Kafka this long is said on /readyz: a healthy one takes milliseconds, a broker's restart
# or a leader's move a few seconds
STALLED_AFTER_S = 30.0


@dataclass(frozen=True, slots=True)
class Failing:
    """The relay's passes failing in a row: since the first, how many, and the last one's error kind."""

    since: datetime
    passes: int = 0
    error: str = ""

    def again(self, error: str) -> Failing:
        return Failing(self.since, self.passes + 1, error)


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        broker: KafkaBroker,
        topics: TopicNames,
        table: type[Any],
        *,
        open_envelope: Callable[[Envelope], Envelope] = lambda envelope: envelope,
        batch: int = 1000,
        poll_interval_s: float = 1.0,
        linger_s: float = 0.02,
        keep_sent: bool = True,
        unclear_passes: int = 5,
        unclear_for_s: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        """`unclear_passes`, `unclear_for_s`: how long a row failing with an error that does not say whose
        fault it is keeps being retried before it is set aside (shared/db/outbox_failures.py says why both;
        the services read them from POPFLOW_OUTBOX_UNCLEAR_PASSES and POPFLOW_OUTBOX_UNCLEAR_FOR_S)."""
        self._sessions = sessions
        # a pass's reads and its update are each a statement of its own: three round trips, not six
        self._single_statements = SingleStatements(sessions)
        self._reads = self._single_statements.read_sessions()  # reads of one statement
        self._broker = broker
        self._table = table
        self._batch = batch
        # built once: building them was a fifth of a relay pass at low rates (with keys held back, per pass)
        self._held_keys = set_aside_keys(table)
        self._pending = pending(table, batch, [])
        self._poll_interval_s = poll_interval_s
        self._linger_s = linger_s
        self._keep_sent = keep_sent
        self._clock = clock or SystemClock()
        self._unclear = UnclearFailures(self._clock, passes=unclear_passes, over_s=unclear_for_s)
        self._sends = OutboxSends(sessions, broker, topics, table, open_envelope=open_envelope, unclear=self._unclear)
        self._wake = asyncio.Event()
        self._failing: Failing | None = None  # since the last pass that went through
        self._pass_started: datetime | None = None  # the pass under way
        # on PostgreSQL replicas share the table, and one of them relays (shared/db/outbox_wakes.py)
        postgres = self._single_statements.postgres
        self._replicas = (
            ReplicaWakes(sessions.kw["bind"], table.__tablename__, spacing_s=linger_s) if postgres else None
        )
        self._relaying = False

    def wake(self) -> None:
        """New rows are stored: a pass now, by this replica's relay if it runs, else by the one that does."""
        self._wake.set()
        if not self._relaying and self._replicas is not None:
            self._replicas.send()

    async def run(self) -> None:
        """Relay until cancelled; a failed pass is logged and retried, never fatal."""
        listening = asyncio.create_task(self._replicas.listen(self._wake.set)) if self._replicas else None
        self._relaying = True
        try:
            await self._relay()
        finally:
            self._relaying = False
            if listening is not None:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listening

    async def _relay(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            failed = False
            try:
                while await self.deliver_pending() == self._batch:
                    pass
            except Exception as error:
                failed = True
                # the pass's own RuntimeError wraps Kafka's: the operator needs the cause's kind
                cause = error.__cause__ if isinstance(error, RuntimeError) and error.__cause__ else error
                log.warning("outbox relay pass failed", error=type(cause).__name__)
                self._failing = (self._failing or Failing(self._clock.now())).again(type(cause).__name__)
            else:
                self._failing = None
            passed = loop.time()
            if failed:
                # the next try a poll later, however soon new rows wake it: under load they come every few ms, and
                # a refusal that goes on took a new producer id at each pass (the broker holds each for a day)
                await asyncio.sleep(self._poll_interval_s)
            else:
                await woken_or_after(self._wake, self._poll_interval_s)
            # passes at least `linger_s` apart: a steady stream leaves in batches, not a pass a row,
            # while a row after a quiet spell leaves at once instead of waiting out a linger
            await asyncio.sleep(max(0.0, passed + self._linger_s - loop.time()))
            self._wake.clear()

    def shown(self) -> dict[str, dict[str, Any]]:
        """For /readyz, while the relay's passes fail (credentials refused, a row whose fault is unclear) or one
        has waited on Kafka for STALLED_AFTER_S or more (Kafka unreachable: the producer retries its sends and the
        pass waits for their answers): since when, how many passes failed and the last one's error kind. The
        service stays ready: what it accepts is stored, and leaves once Kafka takes it. Shown by the replica that
        leads the relay."""
        failing, started = self._failing, self._pass_started
        if started is not None and (self._clock.now() - started).total_seconds() < STALLED_AFTER_S:
            started = None  # a pass under way, not yet waiting long
        if failing is None and started is None:
            return {}
        shown: dict[str, Any] = {}
        if failing is not None:
            shown |= {
                "failing_since": failing.since.isoformat(timespec="seconds"),
                "failed_passes": failing.passes,
                "error": failing.error,
            }
        if started is not None:
            shown["pass_waiting_since"] = started.isoformat(timespec="seconds")
        return {"outbox_relay": shown}

    async def backlog(self) -> int:
        """Rows waiting to be published, set-aside ones apart (an operator's gauge: it should stay near zero;
        GET /v1/admin/outbox/set-aside lists the others). Counted from the unsent rows' own index: the
        `sent_at` index holds published rows only (intake's migration 0009, notification's 0017)."""
        table = self._table
        waiting = (col(table.sent_at).is_(None), col(table.set_aside_at).is_(None))
        async with self._reads() as session:  # SQLite: waits for no writer
            count = await session.scalar(select(func.count()).select_from(table).where(*waiting))
        return int(count or 0)

    def measure(self, metrics: Metrics) -> None:
        """Report the backlog as `popflow_outbox_backlog` on every scrape."""

        async def read() -> Samples:
            return [((), float(await self.backlog()))]

        waiting = "Outbox rows waiting to be published to Kafka, set-aside rows apart"
        metrics.gauge("popflow_outbox_backlog", waiting, [], read)

    async def deliver_pending(self) -> int:
        """Publish one batch of unsent rows; returns how many were read."""
        self._pass_started = self._clock.now()
        try:
            return await self._deliver_pending()
        finally:
            self._pass_started = None

    async def _deliver_pending(self) -> int:
        async with self._single_statements.connect() as connection:
            blockers = [(key, first) for key, first in (await connection.execute(self._held_keys)).all()]
            query = pending(self._table, self._batch, blockers) if blockers else self._pending
            rows = [Pending(*row) for row in (await connection.execute(query)).all()]
        self._unclear.keep_only(row.id for row in rows)
        if not rows:
            return 0
        read = len(rows)
        held: set[str] = set()  # keys with a row set aside in this pass: their later rows wait
        sent: list[int] = []
        failure: BaseException | None = None
        sender = DirectSender(self._broker)
        while rows and failure is None:
            rows, failure = await self._sends.send_round(sender, rows, held, sent)
        if sent:
            async with self._single_statements.connect() as connection:
                confirmed = among(col(self._table.id), "ids", connection.dialect.name, BigInteger())
                await connection.execute(
                    update(self._table).where(confirmed).values(sent_at=datetime.now(UTC))
                    if self._keep_sent
                    else delete(self._table).where(confirmed),
                    {"ids": sent},
                )
        if failure is not None:
            raise RuntimeError(f"{read - len(sent)} outbox rows not confirmed by Kafka") from failure
        return read
