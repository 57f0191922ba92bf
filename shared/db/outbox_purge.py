"""Outbox rows are deleted some days after they were published.

A published row has done its work: its event is on its topic (what the
rebuilds replay) and every consumer deduplicates by event id. Kept, the
rows only grew the database by every record's envelope (sealed personal
data, a few KB each: most of the outbox's share of docs/scaling.md's
database size) and made every full read of the table longer. Rows not yet
published, set aside or discarded have no `sent_at` and are never deleted:
an admin still sees and acts on them.

One replica purges (a `single` background task): every `interval_s`, rows
published more than `keep` ago go, `chunk` rows per transaction so that no
transaction holds many locks or much WAL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from shared.background import every
from shared.clock import Clock, SystemClock

log = structlog.get_logger(__name__)


class OutboxPurge:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: type[Any],
        *,
        keep: timedelta,
        interval_s: float = 3600.0,
        chunk: int = 5000,
        clock: Clock | None = None,  # the system's, as the relay's `sent_at` is: a test's may be held still
    ) -> None:
        self._sessions, self._table = sessions, table
        self._keep, self._interval_s, self._chunk = keep, interval_s, chunk
        self._clock = clock or SystemClock()

    async def purge(self) -> int:
        """Delete the rows published more than `keep` ago; returns how many went."""
        table, total = self._table, 0
        cutoff = self._clock.now() - self._keep
        oldest = select(col(table.id)).where(col(table.sent_at) < cutoff).order_by(col(table.id)).limit(self._chunk)
        while True:
            async with self._sessions.begin() as session:
                # a scalar subquery of ids: PostgreSQL and SQLite both delete by it, in id order
                result = await session.execute(delete(table).where(col(table.id).in_(oldest.scalar_subquery())))
            deleted = int(getattr(result, "rowcount", 0))
            total += deleted
            if deleted < self._chunk:
                return total

    async def run(self) -> None:
        """Purge now and every `interval_s` until cancelled; a failed pass is logged and tried at the next."""
        await every(self._interval_s, self._purge_logged, failed="outbox purge failed")

    async def _purge_logged(self) -> None:
        if purged := await self.purge():
            log.info("published outbox rows purged", count=purged, keep_days=self._keep.days)
