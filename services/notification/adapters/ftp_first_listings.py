"""When the FTP poller first listed each orphan batch file (service_layer/ftp_orphans.py), kept in the database: a
restart, or another replica taking over the poll, goes on timing it instead of starting its wait again.

Rows are keyed by domain/orphan_batches.listing_key (a keyed digest: a file's name is its sender's choice). One
replica polls, so a row is read and written by one poller at a time; a check, not an upsert, serves PostgreSQL
and SQLite alike.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.notification.adapters.tables import ExchangeFtpFirstListed, utc


class FirstListings:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def first_listed(self, file_key: str, now: datetime) -> datetime:
        """When the file of that key was first listed alone: `now` if never before (and so recorded)."""
        async with self._sessions.begin() as session:
            row = await session.get(ExchangeFtpFirstListed, file_key)
            if row is not None:
                return utc(row.first_listed_at)
            session.add(ExchangeFtpFirstListed(file_key=file_key, first_listed_at=now))
        return now

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
