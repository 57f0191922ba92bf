"""Server-side sessions of the street office's page, in notification's own database."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.notification.adapters.secrets import SecretBox
from services.notification.adapters.tables import OfficeSession, utc
from shared.db.engine import reading_sessions


@dataclass(frozen=True, slots=True)
class OpenSession:
    street: str
    key: str  # the office key, decrypted for this request only
    csrf_token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OfficeSessions:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], box: SecretBox, *, lifetime: timedelta) -> None:
        self._sessions, self._box, self._lifetime = sessions, box, lifetime
        self._reads = reading_sessions(sessions)

    async def open(self, *, street: str, key: str, now: datetime) -> str:
        """A new session; returns the token for the cookie (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        row = OfficeSession(
            token_hash=_hash(token),
            street=street,
            key_ciphertext=self._box.seal(key),
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + self._lifetime,
        )
        async with self._sessions.begin() as session:
            # expired sessions of anyone go when someone logs in: the table stays small without a job
            await session.execute(delete(OfficeSession).where(col(OfficeSession.expires_at) < now))
            session.add(row)
        return token

    async def find(self, token: str, *, now: datetime) -> OpenSession | None:
        async with self._reads() as session:  # every office request: on SQLite it waits for no writer
            row = await session.get(OfficeSession, _hash(token))
        if row is None or utc(row.expires_at) <= now:
            return None
        return OpenSession(row.street, self._box.open(row.key_ciphertext), row.csrf_token)

    async def close(self, token: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(OfficeSession).where(col(OfficeSession.token_hash) == _hash(token)))
