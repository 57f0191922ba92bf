"""The notices of the exchange workflow, stored and read inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.routing.adapters.locked import locked
from services.routing.adapters.tables import CaseRow, NoticeRow
from services.routing.adapters.upserts import insert_for
from services.routing.domain.notices import PlannedNotice
from services.routing.domain.recipients import ExchangeEndpoint, Recipient
from shared.db import bulk
from shared.events import NoticeKind


async def add_notices(session: AsyncSession, notices: list[PlannedNotice], *, now: datetime) -> list[PlannedNotice]:
    """Insert the notices; returns those that are new. A notice whose (case version,
    recipient, kind, occasion) exists already is skipped: it was issued before."""
    if not notices:
        return []
    ids = {n.notice_id for n in notices}
    # the existing ids are read first: INSERT ... RETURNING over many rows is slow in SQLAlchemy (result splicing)
    if raw := await bulk.driver(session):
        existing = await bulk.existing(raw, NoticeRow, "notice_id", list(ids))
    else:
        query = select(col(NoticeRow.notice_id)).where(col(NoticeRow.notice_id).in_(ids))
        existing = set((await session.execute(query)).scalars())
    new = list({n.notice_id: n for n in notices if n.notice_id not in existing}.values())
    rows = [notice_row(n, now) for n in new]
    if raw:
        await bulk.insert(raw, NoticeRow, rows, key="notice_id")
    elif rows:
        await session.execute(insert_for(session)(NoticeRow).on_conflict_do_nothing(), rows)
    return new


def notice_row(notice: PlannedNotice, now: datetime) -> dict[str, object]:
    endpoint = notice.recipient.endpoint
    return {
        "notice_id": notice.notice_id,
        "record_id": notice.record_id,
        "case_version": notice.case_version,
        "kind": notice.kind.value,
        "recipient_code": notice.recipient.code,
        "exchange_endpoint": endpoint.name if endpoint else None,
        "sender_code": notice.sender,
        "reason": notice.reason,
        "awaits_answer": notice.awaits_answer,
        "occasion": notice.occasion,
        "issued_at": now,
    }


async def load_notice(
    session: AsyncSession, notice_id: str, *, for_update: bool = False
) -> tuple[PlannedNotice, NoticeRow] | None:
    """`for_update`: locked for this transaction, and read anew even when the session holds it already
    (an answer waiting for the lock must see the answer that held it)."""
    row = await session.get(NoticeRow, notice_id, with_for_update=for_update or None, populate_existing=for_update)
    return None if row is None else (planned_from(row), row)


async def lock_notices(session: AsyncSession, notice_ids: list[str]) -> dict[str, tuple[PlannedNotice, NoticeRow]]:
    """`load_notice(for_update=True)` for a batch, one query: the stored ones among `notice_ids`, locked in the
    order of their ids and read anew. The rows are the caller's to change (the session flushes them)."""
    rows = await locked(session, NoticeRow, col(NoticeRow.notice_id), notice_ids)
    return {row.notice_id: (planned_from(row), row) for row in rows}


def planned_from(row: NoticeRow) -> PlannedNotice:
    endpoint = ExchangeEndpoint(row.exchange_endpoint, "") if row.exchange_endpoint else None
    return PlannedNotice(
        notice_id=row.notice_id,
        record_id=row.record_id,
        case_version=row.case_version,
        kind=NoticeKind(row.kind),
        recipient=Recipient(row.recipient_code, endpoint),
        sender=row.sender_code,
        reason=row.reason,
        awaits_answer=row.awaits_answer,
        occasion=row.occasion,
    )


async def waiting_notices(
    session: AsyncSession, *, issued_before: datetime, unreminded: bool, limit: int
) -> list[NoticeRow]:
    """Notices still waiting for an answer, not yet escalated (nor reminded, with
    `unreminded`), issued before the cutoff, of cases the person has not left (an outflow
    said so: nobody is reminded to verify someone known to be gone); oldest first, locked
    for this transaction."""
    left = exists().where(col(CaseRow.record_id) == col(NoticeRow.record_id), col(CaseRow.left_at).is_not(None))
    conditions = [
        col(NoticeRow.awaits_answer),
        col(NoticeRow.answered_at).is_(None),
        col(NoticeRow.escalated_at).is_(None),
        col(NoticeRow.issued_at) < issued_before,
        ~left,
    ]
    if unreminded:
        conditions.append(col(NoticeRow.reminded_at).is_(None))
    query = (
        select(NoticeRow)
        .where(*conditions)
        .order_by(col(NoticeRow.issued_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).scalars())


async def notices_of(session: AsyncSession, record_id: str) -> list[NoticeRow]:
    """The record's notices, in the order they were issued."""
    query = select(NoticeRow).where(col(NoticeRow.record_id) == record_id).order_by(col(NoticeRow.issued_at))
    return list((await session.execute(query)).scalars())
