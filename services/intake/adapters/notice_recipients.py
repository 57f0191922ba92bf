"""Notice recipients, learnt from notices.issued: the one fact intake needs to let a
recipient office open the record a notice is about."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.adapters.tables import NoticeRecipientRow
from shared.db.engine import SingleStatements
from shared.db.upsert import conflict_insert
from shared.events import NoticeIssued


class NoticeRecipients:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._single_statements = SingleStatements(sessions)
        self._reads = self._single_statements.read_sessions()  # a read of one statement

    async def note_many(self, notices: Sequence[NoticeIssued]) -> None:
        """A batch from Kafka, in one statement. Idempotent: a notice seen again (re-delivery, replay)
        changes nothing."""
        rows = {
            notice.notice_id: {
                "notice_id": notice.notice_id,
                "record_id": notice.record_id,
                "recipient_code": notice.recipient_code,
                "kind": notice.kind.value,
                "issued_at": notice.issued_at,
            }
            for notice in notices
        }
        if not rows:
            return
        async with self._single_statements.connect() as connection:  # one statement: atomic alone
            insert = conflict_insert(connection.dialect)
            # executemany of one compiled, cached statement: a VALUES list of the batch's length was
            # compiled anew for every batch (SQLAlchemy's compiler was half of this method's CPU)
            await connection.execute(insert(NoticeRecipientRow).on_conflict_do_nothing(), list(rows.values()))

    async def get(self, notice_id: str) -> NoticeRecipientRow | None:
        async with self._reads() as session:
            return await session.get(NoticeRecipientRow, notice_id)
