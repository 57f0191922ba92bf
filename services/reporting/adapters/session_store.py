"""Dashboard sessions in reporting's database, looked up by the SHA-256 of the id the browser holds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.report_filters import utc
from services.reporting.adapters.tables import dashboard_sessions as table
from shared.db.engine import reading


def session_hash(token: str) -> str:
    # 256 random bits: a plain SHA-256 is enough, as for API keys (shared/auth/store.py)
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionRow:
    key_id: str
    csrf_token: str
    expires_at: datetime


class SessionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = reading(engine)

    async def add(self, token: str, *, key_id: str, csrf_token: str, now: datetime, expires_at: datetime) -> None:
        """Store a new session; sessions ended more than a day ago go at the same time."""
        async with self._engine.begin() as connection:
            await connection.execute(table.delete().where(table.c.expires_at < now - (expires_at - now)))
            await connection.execute(
                table.insert().values(
                    session_hash=session_hash(token),
                    key_id=key_id,
                    csrf_token=csrf_token,
                    created_at=now,
                    expires_at=expires_at,
                )
            )

    async def live(self, token: str, *, now: datetime) -> SessionRow | None:
        """The session behind `token` while it is neither expired nor revoked."""
        query = sa.select(table).where(
            table.c.session_hash == session_hash(token), table.c.revoked_at.is_(None), table.c.expires_at > now
        )
        async with self._reads.connect() as connection:  # every dashboard request: on SQLite it waits for no fold
            row = (await connection.execute(query)).first()
        return SessionRow(row.key_id, row.csrf_token, utc(row.expires_at)) if row else None

    async def revoke(self, token: str, *, now: datetime) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                table.update().where(table.c.session_hash == session_hash(token)).values(revoked_at=now)
            )
