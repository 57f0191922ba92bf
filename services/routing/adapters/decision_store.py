"""Routing decisions, and which events and records were handled already, inside the caller's transaction.

Every function takes the session of the unit of work, so the state change,
the notices and the processed-event row commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.routing.adapters.notice_store import add_notices, notice_row
from services.routing.adapters.tables import CaseRow, NoticeRow, ReviewItem, RoutedRecord
from services.routing.adapters.upserts import insert_for, upsert
from services.routing.domain.cases import Case
from services.routing.domain.notices import PlannedNotice
from shared.db import bulk
from shared.db.processed import ProcessedEvent, new_events
from shared.events import NoticeKind


def decision_row(case: Case, notices: list[PlannedNotice], *, now: datetime, note: str | None = None) -> dict[str, Any]:
    """The record's routing decision, with its transfer notice and what was mapped to decide it."""
    notice_id = next((n.notice_id for n in notices if n.kind is NoticeKind.TRANSFER), None)
    return {
        "record_id": case.record_id,
        "route": case.route.value,
        "reporting_street": case.reporting_street,
        "residence_street": case.residence_street,
        "notice_id": notice_id,
        "decided_at": now,
        "note": note,
    }


async def save_decisions(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert decisions, or overwrite them when a correction re-routes a record."""
    await upsert(session, RoutedRecord, rows, key="record_id")


async def save_routed(
    session: AsyncSession,
    *,
    cases: list[dict[str, Any]],
    decisions: list[dict[str, Any]],
    notices: list[PlannedNotice],
    processed: list[str],
    now: datetime,
) -> list[PlannedNotice]:
    """New records' cases and decisions, their notices and the processed-event rows at once; returns the
    new notices.

    A record decided already keeps its case and decision: its row is not written again (a record sent
    again under another event id that two transactions decide at once, the second waiting for the
    first's row; the case may be answered meanwhile). On PostgreSQL one statement writes them all (one
    round trip, not five): a notice that clashes with one issued before is not inserted, and is not returned.
    """
    raw = await bulk.driver(session)
    if raw is None:
        for table, rows in ((CaseRow, cases), (RoutedRecord, decisions)):
            if rows:
                await session.execute(
                    insert_for(session)(table).on_conflict_do_nothing(index_elements=["record_id"]), rows
                )
        new = await add_notices(session, notices, now=now)
        await mark_processed(session, processed, now=now)
        return new
    planned = {n.notice_id: n for n in notices}
    inserted = await bulk.insert_together(
        raw,
        [
            bulk.Rows(CaseRow, cases, key="record_id"),
            bulk.Rows(RoutedRecord, decisions, key="record_id"),
            bulk.Rows(ProcessedEvent, [{"event_id": e, "handled_at": now} for e in processed]),
            bulk.Rows(
                NoticeRow, [notice_row(n, now) for n in planned.values()], key="notice_id", returning="notice_id"
            ),
        ],
    )
    issued = set(inserted)
    return [n for n in planned.values() if n.notice_id in issued]


async def new_work(session: AsyncSession, event_ids: list[str], record_ids: list[str]) -> tuple[set[str], set[str]]:
    """The ids among `event_ids` not handled yet (see shared.db.processed), and those among
    `record_ids` seen before: decided, or in the review queue (a record that comes again under a new
    event id), in one query.

    Through the session, not the driver: the unit of work's first statement
    begins its transaction (a `bulk.driver` first would send a statement of its own)."""
    if session.get_bind().dialect.name == "postgresql":
        known = text(
            "SELECT true, event_id FROM processed_events WHERE event_id = ANY(CAST(:events AS text[])) "
            "UNION ALL SELECT false, record_id FROM routed_records WHERE record_id = ANY(CAST(:records AS text[])) "
            "UNION ALL SELECT false, record_id FROM review_queue WHERE record_id = ANY(CAST(:records AS text[]))"
        )
        rows = (await session.execute(known, {"events": event_ids, "records": record_ids})).all()
        handled = {found for is_event, found in rows if is_event}
        return set(event_ids) - handled, {found for is_event, found in rows if not is_event}
    decided_query = select(col(RoutedRecord.record_id)).where(col(RoutedRecord.record_id).in_(record_ids))
    queued_query = select(col(ReviewItem.record_id)).where(col(ReviewItem.record_id).in_(record_ids))
    fresh = await new_events(session, event_ids)
    seen = set((await session.execute(decided_query)).scalars()) | set((await session.execute(queued_query)).scalars())
    return fresh, seen


async def mark_processed(session: AsyncSession, event_ids: list[str], *, now: datetime) -> None:
    rows = [{"event_id": event_id, "handled_at": now} for event_id in event_ids]
    if raw := await bulk.driver(session):
        await bulk.insert(raw, ProcessedEvent, rows)
    elif rows:
        await session.execute(insert_for(session)(ProcessedEvent), rows)


async def load_decision(session: AsyncSession, record_id: str) -> RoutedRecord | None:
    return await session.get(RoutedRecord, record_id)


async def holds_decisions(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(func.count()).select_from(RoutedRecord)))
