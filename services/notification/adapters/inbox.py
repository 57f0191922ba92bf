"""Stores notices in their recipient's inbox and lists them.

Storing is idempotent by notice id: a notice delivered twice by Kafka (or
issued twice by a replay) lands once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from services.notification.adapters.tables import InboxNotice
from shared.events import NoticeIssued


class Inbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def store(self, notice: NoticeIssued) -> bool:
        """True when the notice is new, False when it was already there."""
        async with self._sessions.begin() as session:
            if await session.get(InboxNotice, notice.notice_id) is not None:
                return False
            session.add(
                InboxNotice(
                    notice_id=notice.notice_id,
                    recipient_code=notice.recipient_code,
                    record_id=notice.record_id,
                    route=notice.route.value,
                    reason=notice.reason,
                    person=notice.person.model_dump(mode="json"),
                    issued_at=notice.issued_at,
                    received_at=datetime.now(UTC),
                )
            )
        return True

    async def list_for(self, recipient_code: str, *, limit: int = 100) -> list[InboxNotice]:
        """Newest first."""
        query = (
            select(InboxNotice)
            .where(col(InboxNotice.recipient_code) == recipient_code)
            .order_by(col(InboxNotice.issued_at).desc(), col(InboxNotice.notice_id))
            .limit(limit)
        )
        async with self._sessions() as session:
            return list((await session.execute(query)).scalars())
