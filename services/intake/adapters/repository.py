"""Stores accepted records with their outbox rows, and reads them back."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.adapters.tables import OutboxRow, RecordRow
from shared.events import Envelope


class RecordRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add_with_event(self, row: RecordRow, envelope: Envelope, *, topic: str) -> None:
        """The record and its event in one transaction: both are kept, or neither.

        Core inserts rather than the ORM unit of work: this is intake's hot path.
        """
        outbox = {
            "topic": topic,
            "key": row.person_key,
            "envelope": envelope.model_dump(mode="json"),
            "created_at": datetime.now(UTC),
        }
        async with self._sessions.begin() as session:
            await session.execute(insert(RecordRow), [row.model_dump()])
            await session.execute(insert(OutboxRow), [outbox])

    async def get(self, record_id: str) -> RecordRow | None:
        async with self._sessions() as session:
            return await session.get(RecordRow, record_id)

    async def set_route(self, record_id: str, route: str) -> None:
        """Idempotent: setting the same route twice changes nothing."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(RecordRow).where(RecordRow.record_id == record_id).values(route=route)  # type: ignore[arg-type]
            )
