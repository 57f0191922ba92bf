"""The outbox relay: publishes stored events to Kafka in the order they were written.

Rows are read oldest first and published without waiting for each
confirmation, then all confirmations are awaited before the rows are marked
sent. The producer is idempotent with acks=all, so per-partition order holds
through retries. If Kafka is down the rows stay unsent and the next pass
(woken by a new record or by the poll interval) tries again; only the rows
Kafka confirmed are marked, so a pass that half failed re-sends just the
rest. A crash between publish and mark means a row is published twice with
the same event id, which every consumer deduplicates.

Envelopes carrying personal data are stored sealed (AES-GCM) and opened
only here, on their way to Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import structlog
from faststream.kafka import KafkaBroker
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.adapters.sealing import Sealer
from services.intake.adapters.tables import OutboxRow
from shared.topics import TopicNames

log = structlog.get_logger(__name__)


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        broker: KafkaBroker,
        topics: TopicNames,
        sealer: Sealer,
        *,
        batch: int = 1000,
        poll_interval_s: float = 1.0,
        linger_s: float = 0.02,
    ) -> None:
        self._sessions = sessions
        self._broker = broker
        self._topics = topics
        self._sealer = sealer
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
            # a short linger lets a burst of records leave in one batch, not one pass each
            await asyncio.sleep(self._linger_s)
            self._wake.clear()

    async def deliver_pending(self) -> int:
        """Publish one batch of unsent rows; returns how many were sent."""
        async with self._sessions() as session:
            query = (
                select(OutboxRow)
                .where(OutboxRow.sent_at.is_(None))  # type: ignore[union-attr]
                .order_by(OutboxRow.id)  # type: ignore[arg-type]
                .limit(self._batch)
            )
            rows = list((await session.execute(query)).scalars())
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
                await session.execute(
                    update(OutboxRow).where(OutboxRow.id.in_(sent)).values(sent_at=datetime.now(UTC))  # type: ignore[union-attr]
                )
        failure = failure or next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            raise RuntimeError(f"{len(rows) - len(sent)} outbox rows not confirmed by Kafka") from failure
        return len(rows)

    async def _send(self, row: OutboxRow) -> asyncio.Future[object]:
        envelope = row.envelope
        if "sealed" in envelope:
            envelope = self._sealer.open(str(envelope["sealed"]), bound_to=str(envelope["event_id"]))
        return await self._broker.publish(
            envelope,
            self._topics(row.topic),
            key=row.key.encode(),
            headers={"event_type": str(envelope["type"]), "event_id": str(envelope["event_id"])},
            correlation_id=str(envelope["correlation_id"]),
            no_confirm=True,
        )
