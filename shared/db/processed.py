"""Processed-events bookkeeping: the heart of idempotent consumers.

A consumer writes the event id in the same transaction as the state change
the event caused. Seeing the id again means the effect already happened.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_events"

    event_id: str = Field(primary_key=True, max_length=36)
    handled_at: datetime


async def already_processed(session: AsyncSession, event_id: str) -> bool:
    return await session.get(ProcessedEvent, event_id) is not None


async def new_events(session: AsyncSession, event_ids: list[str]) -> set[str]:
    """The ids among `event_ids` not handled yet, in one query."""
    if not event_ids:
        return set()
    query = select(col(ProcessedEvent.event_id)).where(col(ProcessedEvent.event_id).in_(event_ids))
    return set(event_ids) - set((await session.execute(query)).scalars())


def mark_processed(session: AsyncSession, event_id: str) -> None:
    session.add(ProcessedEvent(event_id=event_id, handled_at=datetime.now(UTC)))


async def unmark_processed(session: AsyncSession, event_id: str) -> None:
    """Forget that the event was handled: it was kept to handle later and then set aside, so that the
    event, re-sent (`popflow dead-letters replay`), is handled instead of skipped."""
    await session.execute(delete(ProcessedEvent).where(col(ProcessedEvent.event_id) == event_id))
