"""Answers that came before their notice, parked: read, locked and removed inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from services.routing.adapters.tables import NoticeRow, ParkedAnswer
from shared.db.among import among


async def records_with_parked(session: AsyncSession, record_ids: list[str]) -> set[str]:
    """The records among `record_ids` with an answer parked already, in one query: a record's later answers wait
    behind it (one record's answers, to any of its notices, apply in the order they came)."""
    if not record_ids:
        return set()
    among_them = among(col(ParkedAnswer.record_id), "records", session.get_bind().dialect.name)
    query = select(col(ParkedAnswer.record_id)).where(among_them).distinct()
    return set((await session.execute(query, {"records": sorted(set(record_ids))})).scalars())


async def ready_parked(session: AsyncSession, *, limit: int) -> list[tuple[int, str]]:
    """(seq, record id) of the earliest parked answers that may apply now, in order: each one's notice is
    stored, and no earlier answer of its record still waits for its own notice."""
    earlier = aliased(ParkedAnswer)
    query = (
        select(col(ParkedAnswer.seq), col(ParkedAnswer.record_id))
        .where(
            exists().where(col(NoticeRow.notice_id) == col(ParkedAnswer.notice_id)),
            ~exists()
            .where(
                col(earlier.record_id) == col(ParkedAnswer.record_id),
                col(earlier.seq) < col(ParkedAnswer.seq),
                ~exists().where(col(NoticeRow.notice_id) == col(earlier.notice_id)),
            )
            .correlate(ParkedAnswer),
        )
        .order_by(col(ParkedAnswer.seq))
        .limit(limit)
    )
    return [(seq, record_id) for seq, record_id in (await session.execute(query)).all() if seq is not None]


async def parked_at(session: AsyncSession, seq: int) -> ParkedAnswer | None:
    """The parked answer at `seq`, locked for this transaction; waits while another holds it (never
    skips it: a notice's later answer must not overtake it). None once it is gone."""
    query = select(ParkedAnswer).where(col(ParkedAnswer.seq) == seq).with_for_update()
    return (await session.execute(query)).scalars().first()


async def expired_parked(session: AsyncSession, *, parked_before: datetime, limit: int) -> list[ParkedAnswer]:
    """Parked answers older than the cutoff whose notice never came, oldest first, locked."""
    query = (
        select(ParkedAnswer)
        .where(
            col(ParkedAnswer.parked_at) < parked_before,
            ~exists().where(col(NoticeRow.notice_id) == col(ParkedAnswer.notice_id)),
        )
        .order_by(col(ParkedAnswer.seq))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).scalars())


async def parked_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ParkedAnswer)) or 0)


async def unpark(session: AsyncSession, row: ParkedAnswer) -> None:
    await session.execute(delete(ParkedAnswer).where(col(ParkedAnswer.seq) == row.seq))
