"""The outbox relay: publishes events written in the same transaction as their state change.

A service writes its state change and the event's outbox row in one
transaction; the relay publishes unsent rows afterwards, oldest first,
without waiting for each confirmation, then marks as sent exactly the rows
Kafka confirmed. The producer is idempotent with acks=all, so per-partition
order holds through retries. If Kafka is unreachable the rows stay unsent
and the next pass (woken by new work or by the poll interval) tries again;
a crash between publish and mark publishes a row twice with the same event
id, which every consumer deduplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from faststream.kafka import KafkaBroker
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from shared.metrics import Metrics, Samples
from shared.topics import TopicNames

log = structlog.get_logger(__name__)

Envelope = dict[str, Any]


class OutboxRowLike(Protocol):
    """The columns every outbox table has (intake's, notification's)."""

    id: int | None
    topic: str
    key: str
    envelope: dict[str, Any]
    sent_at: datetime | None


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
    ) -> None:
        self._sessions = sessions
        self._broker = broker
        self._topics = topics
        self._table = table
        self._open = open_envelope
        self._batch = batch
        self._poll_interval_s = poll_interval_s
        self._linger_s = linger_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Relay until cancelled; a failed pass is logged and retried, never fatal."""
        while True:
            try:
                while await self.deliver_pending() == self._batch:
                    pass
            except Exception as error:
                log.warning("outbox relay pass failed", error=type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)
            # a short linger lets a burst leave in one batch, not one pass each
            await asyncio.sleep(self._linger_s)
            self._wake.clear()

    async def backlog(self) -> int:
        """Rows not yet published (an operator's gauge: it should stay near zero)."""
        table = self._table
        async with self._sessions() as session:
            count = await session.scalar(select(func.count()).select_from(table).where(col(table.sent_at).is_(None)))
        return int(count or 0)

    def measure(self, metrics: Metrics) -> None:
        """Report the backlog as `popflow_outbox_backlog` on every scrape."""

        async def read() -> Samples:
            return [((), float(await self.backlog()))]

        metrics.gauge("popflow_outbox_backlog", "Outbox rows written but not yet published to Kafka", [], read)

    async def deliver_pending(self) -> int:
        """Publish one batch of unsent rows; returns how many were read."""
        table = self._table
        query = select(table).where(col(table.sent_at).is_(None)).order_by(col(table.id)).limit(self._batch)
        async with self._sessions() as session:
            rows: list[OutboxRowLike] = list((await session.execute(query)).scalars())
        if not rows:
            return 0
        futures: list[asyncio.Future[object]] = []
        failure: BaseException | None = None
        for row in rows:
            try:
                futures.append(await self._send(row))
            except Exception as error:  # Kafka unreachable: send nothing more this pass
                failure = error
                break
        results = await asyncio.gather(*futures, return_exceptions=True)
        sent = [row.id for row, result in zip(rows, results, strict=False) if not isinstance(result, BaseException)]
        if sent:
            async with self._sessions.begin() as session:
                await session.execute(update(table).where(col(table.id).in_(sent)).values(sent_at=datetime.now(UTC)))
        failure = failure or next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            raise RuntimeError(f"{len(rows) - len(sent)} outbox rows not confirmed by Kafka") from failure
        return len(rows)

    async def _send(self, row: OutboxRowLike) -> asyncio.Future[object]:
        envelope = self._open(row.envelope)
        return await self._broker.publish(
            envelope,
            self._topics(row.topic),
            key=row.key.encode(),
            headers={"event_type": str(envelope["type"]), "event_id": str(envelope["event_id"])},
            correlation_id=str(envelope["correlation_id"]),
            no_confirm=True,
        )
