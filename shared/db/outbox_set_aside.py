"""What an admin sees of an outbox's set-aside rows, and does with one (GET /v1/admin/outbox/set-aside).

The relay (shared/db/outbox.py, its sends in shared/db/outbox_sends.py) sets a
row aside when Kafka will never take it, and holds its person's later rows
behind it. `retry` puts it back in line
(still the oldest of its key, it goes first); `discard` gives it up for good,
and the rows held behind it go.

An id beyond the range of the table's id column (intake's and notification's
are 32-bit) is no row's: it is answered as any unknown id, not sent to a
store that would refuse it as a value it cannot hold.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import BigInteger, Integer, SmallInteger, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased
from sqlmodel import col

from shared.db.engine import reading_sessions


class OutboxRowLike(Protocol):
    """The columns every outbox table has (intake's, notification's)."""

    id: int | None
    topic: str
    key: str
    envelope: dict[str, Any]
    created_at: datetime
    sent_at: datetime | None
    set_aside_at: datetime | None
    discarded_at: datetime | None
    error: str | None


class SetAsideRows:
    """What an admin sees of set-aside rows, and the two things an admin can do with one."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], table: type[Any], *, wake: Callable[[], None]):
        self._sessions, self._table, self._wake = sessions, table, wake
        self._reads = reading_sessions(sessions)  # the list: on SQLite it holds no relay back
        self._largest_id = largest_id(table)

    async def rows(self, *, limit: int, discarded: bool = False) -> list[dict[str, Any]]:
        """Set-aside rows, oldest first, each with how many later rows of its key it holds back."""
        table = self._table
        later = aliased(table)
        held = (
            select(func.count())
            .where(
                col(later.key) == col(table.key),
                col(later.id) > col(table.id),
                col(later.sent_at).is_(None),
                col(later.set_aside_at).is_(None),  # waiting behind it, read from the unsent rows' index
            )
            .scalar_subquery()
        )
        state = col(table.discarded_at).is_not(None) if discarded else col(table.discarded_at).is_(None)
        query = (
            select(table, held).where(col(table.set_aside_at).is_not(None), state).order_by(col(table.id)).limit(limit)
        )
        async with self._reads() as session:
            return [_view(row, holding) for row, holding in (await session.execute(query)).all()]

    async def retry(self, row_id: int) -> bool:
        """Back in line (first of its key); False when no such set-aside row."""
        done = await self._change(row_id, set_aside_at=None, error=None)
        self._wake()
        return done

    async def discard(self, row_id: int) -> bool:
        """Given up for good: never published; the rows held behind it go."""
        done = await self._change(row_id, discarded_at=datetime.now(UTC))
        self._wake()
        return done

    async def _change(self, row_id: int, **values: Any) -> bool:
        if row_id > self._largest_id:
            return False  # no row's: PostgreSQL would refuse the value (a 422), not find no row
        table = self._table
        where = (
            col(table.id) == row_id,
            col(table.set_aside_at).is_not(None),
            col(table.discarded_at).is_(None),
        )
        async with self._sessions.begin() as session:
            result = await session.execute(update(table).where(*where).values(**values))
        return bool(getattr(result, "rowcount", 0))


# PostgreSQL's range of each integer type (SQLite's integers are 64-bit whatever their declared type, but
# the same table in PostgreSQL cannot hold more); subclasses first, as BigInteger and SmallInteger are Integers
LARGEST_OF_TYPE = ((SmallInteger, 2**15 - 1), (BigInteger, 2**63 - 1), (Integer, 2**31 - 1))


def largest_id(table: type[Any]) -> int:
    """The largest id `table`'s id column can hold."""
    id_type = table.__table__.c.id.type
    return next(largest for kind, largest in LARGEST_OF_TYPE if isinstance(id_type, kind))


def _view(row: OutboxRowLike, holding: int) -> dict[str, Any]:
    envelope = row.envelope
    return {
        "id": row.id,
        "topic": row.topic,
        "key": row.key,
        "event_id": envelope.get("event_id"),
        "event_type": envelope.get("type"),
        "created_at": row.created_at.isoformat(),
        "set_aside_at": row.set_aside_at.isoformat() if row.set_aside_at else None,
        "discarded_at": row.discarded_at.isoformat() if row.discarded_at else None,
        "error": row.error,
        "holds_back": holding,
    }
