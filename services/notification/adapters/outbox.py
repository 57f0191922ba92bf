"""The outbox relay: publishes notification's status events after their transaction committed.

Why an outbox rather than publish-then-commit: an answer is accepted only if
no answer was recorded before (409 otherwise), and that check lives in the
database. Publishing first would let a crash (or a lost race between two
clerks) put an answer on Kafka that the database never recorded. With the
outbox, the status change and its event commit together; the relay
publishes afterwards, oldest first, and marks the rows sent. A crash between
publish and mark publishes a row twice with the same (deterministic) event
id, which consumers deduplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import structlog
from faststream.kafka import KafkaBroker
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.notification.adapters.tables import OutboxRow
from shared.topics import TopicNames

log = structlog.get_logger(__name__)


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        broker: KafkaBroker,
        topics: TopicNames,
        *,
        batch: int = 500,
        poll_interval_s: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._broker = broker
        self._topics = topics
        self._batch = batch
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Relay until cancelled; a failed pass is logged and retried, never fatal."""
        while True:
            self._wake.clear()
            try:
                while await self.publish_pending() == self._batch:
                    pass
            except Exception as error:
                log.warning("outbox relay pass failed", error=type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)

    async def publish_pending(self) -> int:
        """Publish one batch of unsent rows; returns how many were sent."""
        query = select(OutboxRow).where(col(OutboxRow.sent_at).is_(None)).order_by(col(OutboxRow.id)).limit(self._batch)
        async with self._sessions() as session:
            rows = list((await session.execute(query)).scalars())
        if not rows:
            return 0
        confirmations = [await self._send(row) for row in rows]
        await asyncio.gather(*confirmations)
        async with self._sessions.begin() as session:
            await session.execute(
                update(OutboxRow).where(col(OutboxRow.id).in_([r.id for r in rows])).values(sent_at=datetime.now(UTC))
            )
        return len(rows)

    async def _send(self, row: OutboxRow) -> asyncio.Future[object]:
        return await self._broker.publish(
            row.envelope,
            self._topics(row.topic),
            key=row.key.encode(),
            headers={"event_type": str(row.envelope["type"]), "event_id": str(row.envelope["event_id"])},
            correlation_id=str(row.envelope["correlation_id"]),
            no_confirm=True,
        )
