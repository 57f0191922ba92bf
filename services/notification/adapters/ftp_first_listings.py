"""When the FTP poller first listed each orphan batch file (service_layer/ftp_orphans.py), kept in the database: a
restart, or another replica taking over the poll, goes on timing it instead of starting its wait again.

Rows are keyed by domain/orphan_batches.listing_key (a keyed digest: a file's name is its sender's choice). One
replica polls at a time, but at a hand-over the replica that lost the lead may still be ending its round while the
new leader begins one: both may time the same file at once. The first to insert its row writes it; the other's
insert writes nothing (ON CONFLICT DO NOTHING, on PostgreSQL and SQLite alike: shared.db.upsert), and the time the
first recorded is the answer for both.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.notification.adapters.tables import ExchangeFtpFirstListed, utc
from shared.db.upsert import first_insert

_LISTED = ExchangeFtpFirstListed.__table__  # type: ignore[attr-defined]


class FirstListings:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._first = first_insert(sessions.kw["bind"], _LISTED, ["file_key"])

    async def first_listed(self, file_key: str, now: datetime) -> datetime:
        """When the file of that key was first listed alone: `now` if never before (and so recorded)."""
        async with self._sessions.begin() as session:
            await session.execute(self._first.values(file_key=file_key, first_listed_at=now))
            listed = select(_LISTED.c.first_listed_at).where(_LISTED.c.file_key == file_key)
            return utc((await session.execute(listed)).scalar_one())  # ours, or the one written first

    async def forget(self, file_key: str) -> None:
        """The file was dealt with: no longer timed."""
        async with self._sessions.begin() as session:
            await session.execute(
                delete(ExchangeFtpFirstListed).where(col(ExchangeFtpFirstListed.file_key) == file_key)
            )

    async def prune(self, before: datetime) -> None:
        """Rows of files first listed before `before`: files gone otherwise (their manifest came, say), since one
        still listed alone would have been set aside long before."""
        old = delete(ExchangeFtpFirstListed).where(col(ExchangeFtpFirstListed.first_listed_at) < before)
        async with self._sessions.begin() as session:
            await session.execute(old)
