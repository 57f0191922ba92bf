"""The read audit: every read of a record is written down before the answer leaves."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.intake.adapters.tables import ReadAuditRow
from shared.auth import Principal, ScopeKind
from shared.db.engine import reading_sessions


class ReadAudit:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._reads = reading_sessions(sessions)

    async def record(self, principal: Principal, *, action: str, record_ids: list[str], purpose: str) -> None:
        row = ReadAuditRow(
            key_id=principal.key_id,
            scope=str(principal.scope),
            action=action,
            purpose=purpose,
            record_ids=record_ids,
            read_at=datetime.now(UTC),
        )
        async with self._sessions.begin() as session:
            session.add(row)

    async def visible_to(self, principal: Principal, *, limit: int, offset: int) -> list[ReadAuditRow]:
        """Newest first: everything for admin; a district sees reads by its own and its streets' keys."""
        query = select(ReadAuditRow).order_by(col(ReadAuditRow.id).desc()).limit(limit).offset(offset)
        if principal.scope.kind is ScopeKind.DISTRICT:
            code = principal.scope.code
            query = query.where(
                or_(col(ReadAuditRow.scope) == f"district:{code}", col(ReadAuditRow.scope).startswith(f"street:{code}"))
            )
        async with self._reads() as session:
            return list((await session.execute(query)).scalars())
