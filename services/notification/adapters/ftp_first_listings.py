"""When the FTP poller first listed each orphan batch file (service_layer/ftp_orphans.py), kept in the database: a
restart, or another replica taking over the poll, goes on timing it instead of starting its wait again.

Rows are keyed by domain/orphan_batches.listing_key (a keyed digest: a file's name is its sender's choice). One
replica polls at a time, but at a hand-over the replica that lost the lead may still be ending its round while the
new leader begins one: both may find no row and both insert it. The second insert is refused by the key, and the
time the first recorded is the answer for both; a check, not an upsert, serves PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.notification.adapters.tables import ExchangeFtpFirstListed, utc
from shared.db.errors import is_raced


class FirstListings:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def first_listed(self, file_key: str, now: datetime) -> datetime:
        """When the file of that key was first listed alone: `now` if never before (and so recorded)."""
        try:
            async with self._sessions.begin() as session:
                row = await session.get(ExchangeFtpFirstListed, file_key)
                if row is not None:
                    return utc(row.first_listed_at)
                session.add(ExchangeFtpFirstListed(file_key=file_key, first_listed_at=now))
        except IntegrityError as refused:
            if not is_raced(refused):
                raise  # another constraint than the key: no other poller's row answers for it
            # another poller recorded it between our look and our insert
            async with self._sessions() as session:
                row = await session.get(ExchangeFtpFirstListed, file_key)
            return utc(row.first_listed_at) if row is not None else now  # forgotten since: its batch was taken
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
