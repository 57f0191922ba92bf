"""Reads and writes routing's tables inside the caller's transaction.

Every function takes the session of the unit of work, so the state change,
the notices and the processed-event row commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import SQLModel, col

from services.routing.adapters.tables import CaseRow, NoticeRow, ParkedAnswer, ReviewItem, RoutedRecord
from services.routing.domain.cases import Case, CaseStatus
from services.routing.domain.notices import PlannedNotice
from services.routing.domain.recipients import ExchangeEndpoint, Recipient
from services.routing.domain.routes import NeedsReview
from shared.db import bulk
from shared.db.processed import ProcessedEvent
from shared.db.upsert import conflict_insert
from shared.events import EventKind, NoticeKind, ReviewResolved, Route
from shared.sealing import Keyring

# the parts of a case that identify the person: kept sealed, bound to the record id
SEALED_FIELDS = ("name", "id_number", "residence_address", "registration_address")


async def load_case(
    session: AsyncSession, record_id: str, keyring: Keyring, *, for_update: bool = False
) -> Case | None:
    """The case; `for_update` locks its row until the transaction ends (a case about to be saved whole:
    a concurrent `mark_outflow` waits, or has been committed and is read)."""
    row = await session.get(CaseRow, record_id, with_for_update=for_update or None)
    if row is None:
        return None
    fields = row.model_dump(exclude={"person_key", "observed_at", "updated_at", "left_at", "person_sealed"})
    fields.update(keyring.open(row.person_sealed, context=row.record_id))
    fields.update(status=CaseStatus(row.status), event=EventKind(row.event), route=Route(row.route))
    return Case(**fields)


def case_row(case: Case, *, person_key: str, observed_at: datetime, now: datetime, keyring: Keyring) -> dict[str, Any]:
    person = {name: getattr(case, name) for name in SEALED_FIELDS}
    return {
        "record_id": case.record_id,
        "person_key": person_key,
        "version": case.version,
        "status": case.status.value,
        "event": case.event.value,
        "route": case.route.value,
        "reporting_street": case.reporting_street,
        "residence_street": case.residence_street,
        "registration_division": case.registration_division,
        "person_sealed": keyring.seal(person, context=case.record_id),
        "observed_at": observed_at,
        "updated_at": now,
    }


async def save_cases(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert or overwrite cases (rows of `case_row`) with their current version."""
    await _upsert(session, CaseRow, rows, key="record_id")


async def case_keys(session: AsyncSession, record_id: str) -> tuple[str, datetime]:
    """The person key (Kafka key of the case's events) and when the person was observed."""
    row = await session.get(CaseRow, record_id)
    assert row is not None
    return row.person_key, row.observed_at


async def mark_outflow(
    session: AsyncSession, *, person_key: str, outflow: str, left_street: str, observed_at: datetime, now: datetime
) -> None:
    """The cases the outflow (`outflow`: its record id) leaves become 'inflow then outflow', left: the person's
    cases at the street left, observed no later than the outflow. Not its own (it lives at the new residence,
    marked when routed), nor one where the person lives now (an inflow at the new street, whichever arrived
    first) or was seen after leaving. A left case's notices are no longer followed up (`waiting_notices`)."""
    await session.execute(
        update(CaseRow)
        .where(
            col(CaseRow.person_key) == person_key,
            col(CaseRow.record_id) != outflow,
            col(CaseRow.residence_street) == left_street,
            col(CaseRow.observed_at) <= observed_at,
        )
        .values(status=CaseStatus.INFLOW_THEN_OUTFLOW.value, left_at=now, updated_at=now)
    )


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
    await _upsert(session, RoutedRecord, rows, key="record_id")


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
    rows = [_notice_row(n, now) for n in new]
    if raw:
        await bulk.insert(raw, NoticeRow, rows, key="notice_id")
    elif rows:
        await session.execute(_insert(session)(NoticeRow).on_conflict_do_nothing(), rows)
    return new


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
                    _insert(session)(table).on_conflict_do_nothing(index_elements=["record_id"]), rows
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
                NoticeRow, [_notice_row(n, now) for n in planned.values()], key="notice_id", returning="notice_id"
            ),
        ],
    )
    issued = set(inserted)
    return [n for n in planned.values() if n.notice_id in issued]


def _notice_row(notice: PlannedNotice, now: datetime) -> dict[str, object]:
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


async def answers_parked_for(session: AsyncSession, record_id: str) -> bool:
    """Whether an answer to a notice of the record waits already (a later one waits behind it: one
    record's answers, to any of its notices, apply in the order they came)."""
    query = select(exists().where(col(ParkedAnswer.record_id) == record_id))
    return bool((await session.execute(query)).scalar())


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


def review_row(
    record_id: str, review: NeedsReview, reporting: str, now: datetime, record: dict[str, Any], keyring: Keyring
) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "field": review.field,
        "reason": review.reason,
        "kind": review.kind,
        "reporting_street": reporting,
        "received_at": now,
        "record_sealed": keyring.seal(record, context=f"{record_id}/review"),
    }


def review_record(item: ReviewItem, keyring: Keyring) -> dict[str, Any] | None:
    """The item's record (routing fields), opened; None for items queued without it."""
    if item.record_sealed is None:
        return None
    record: dict[str, Any] = keyring.open(item.record_sealed, context=f"{item.record_id}/review")
    return record


# what a correction that still cannot be routed changes of its item (the rest: its record id and age)
REQUEUED_FIELDS = ("field", "reason", "kind", "reporting_street", "record_sealed")


async def add_reviews(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Queue the items; an item queued already (a corrected record that still cannot be routed)
    keeps its age and takes the new field, reason, kind, reporting street and record: it shows what
    the bureau said last, and is in the queue of the district that reported the corrected record."""
    if rows:
        statement = _insert(session)(ReviewItem)
        changed = {name: statement.excluded[name] for name in REQUEUED_FIELDS}
        await session.execute(statement.on_conflict_do_update(index_elements=["record_id"], set_=changed), rows)


async def load_review(session: AsyncSession, record_id: str, *, for_update: bool = False) -> ReviewItem | None:
    query = select(ReviewItem).where(col(ReviewItem.record_id) == record_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


def close_review(item: ReviewItem, event: ReviewResolved) -> None:
    item.resolution, item.resolved_code = event.resolution.value, event.code
    item.resolution_note, item.resolved_by, item.resolved_at = event.reason, event.resolved_by, event.resolved_at


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
    handled_query = select(col(ProcessedEvent.event_id)).where(col(ProcessedEvent.event_id).in_(event_ids))
    decided_query = select(col(RoutedRecord.record_id)).where(col(RoutedRecord.record_id).in_(record_ids))
    queued_query = select(col(ReviewItem.record_id)).where(col(ReviewItem.record_id).in_(record_ids))
    handled = set((await session.execute(handled_query)).scalars())
    seen = set((await session.execute(decided_query)).scalars()) | set((await session.execute(queued_query)).scalars())
    return set(event_ids) - handled, seen


async def mark_processed(session: AsyncSession, event_ids: list[str], *, now: datetime) -> None:
    rows = [{"event_id": event_id, "handled_at": now} for event_id in event_ids]
    if raw := await bulk.driver(session):
        await bulk.insert(raw, ProcessedEvent, rows)
    elif rows:
        await session.execute(_insert(session)(ProcessedEvent), rows)


async def review_queue(
    session: AsyncSession, *, limit: int, reporting_prefix: str = "", resolved: bool = False
) -> list[ReviewItem]:
    """Open (or resolved) items, oldest first, of records whose reporting street starts with `reporting_prefix`."""
    waiting = col(ReviewItem.resolved_at).is_not(None) if resolved else col(ReviewItem.resolved_at).is_(None)
    query = select(ReviewItem).where(waiting).order_by(col(ReviewItem.received_at)).limit(limit)
    if reporting_prefix:
        query = query.where(col(ReviewItem.reporting_street).startswith(reporting_prefix, autoescape=True))
    return list((await session.execute(query)).scalars())


async def load_decision(session: AsyncSession, record_id: str) -> RoutedRecord | None:
    return await session.get(RoutedRecord, record_id)


async def notices_of(session: AsyncSession, record_id: str) -> list[NoticeRow]:
    """The record's notices, in the order they were issued."""
    query = select(NoticeRow).where(col(NoticeRow.record_id) == record_id).order_by(col(NoticeRow.issued_at))
    return list((await session.execute(query)).scalars())


async def holds_decisions(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(func.count()).select_from(RoutedRecord)))


def _insert(session: AsyncSession) -> Any:
    """INSERT with ON CONFLICT, in the dialect of the session's database."""
    return conflict_insert(session.get_bind().dialect)


async def _upsert(session: AsyncSession, table: type[SQLModel], rows: list[dict[str, Any]], *, key: str) -> None:
    if not rows:
        return
    if raw := await bulk.driver(session):
        await bulk.insert(raw, table, rows, key=key, overwrite=True)
        return
    # one statement with many parameter sets: compiled once and cached, sent in bulk (insertmanyvalues)
    statement = _insert(session)(table)
    columns = {name: statement.excluded[name] for name in rows[0] if name != key}
    await session.execute(statement.on_conflict_do_update(index_elements=[key], set_=columns), rows)
