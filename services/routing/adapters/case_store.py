"""Routing's cases, read and written inside the caller's transaction (the unit of work's session)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.routing.adapters import notice_store
from services.routing.adapters.locked import locked
from services.routing.adapters.tables import CaseRow, NoticeRow
from services.routing.adapters.upserts import upsert
from services.routing.domain.cases import Case, CaseStatus
from services.routing.domain.notices import PlannedNotice
from shared.db import bulk
from shared.events import EventKind, Route
from shared.sealing import Keyring

# the parts of a case that identify the person: kept sealed, bound to the record id
SEALED_FIELDS = ("name", "id_number", "residence_address", "registration_address")


async def load_case(
    session: AsyncSession, record_id: str, keyring: Keyring, *, for_update: bool = False
) -> Case | None:
    """The case; `for_update` locks its row until the transaction ends (a case about to be saved whole:
    a concurrent `mark_outflow` waits, or has been committed and is read)."""
    found = await load_case_with_keys(session, record_id, keyring, for_update=for_update)
    return None if found is None else found[0]


async def load_case_with_keys(
    session: AsyncSession, record_id: str, keyring: Keyring, *, for_update: bool = False
) -> tuple[Case, str, datetime] | None:
    """The case, its person key (the Kafka key of the case's events) and when the person was observed, from one
    read; None when no case is stored for the record. `for_update`:
    locked as in `load_case`, and read anew even when the session holds the row already (`save_cases` writes
    past the session: a batch's second answer of a record must see the case its first one saved)."""
    row = await session.get(CaseRow, record_id, with_for_update=for_update or None, populate_existing=for_update)
    if row is None:
        return None
    return _case_of(row, keyring), row.person_key, row.observed_at


async def lock_cases_with_keys(
    session: AsyncSession, record_ids: list[str], keyring: Keyring
) -> dict[str, tuple[Case, str, datetime]]:
    """`load_case_with_keys(for_update=True)` for a batch, one query: the stored ones among `record_ids`, locked
    in the order of their ids and read anew."""
    rows = await locked(session, CaseRow, col(CaseRow.record_id), record_ids)
    return {row.record_id: (_case_of(row, keyring), row.person_key, row.observed_at) for row in rows}


def _case_of(row: CaseRow, keyring: Keyring) -> Case:
    fields = row.model_dump(exclude={"person_key", "observed_at", "updated_at", "left_at", "person_sealed"})
    fields.update(keyring.open(row.person_sealed, context=row.record_id))
    fields.update(status=CaseStatus(row.status), event=EventKind(row.event), route=Route(row.route))
    return Case(**fields)


def case_row(case: Case, *, person_key: str, observed_at: datetime, now: datetime, keyring: Keyring) -> dict[str, Any]:
    """The case as `save_cases` writes it, the person's parts sealed to its record id; the person key and
    when the person was observed are kept beside it, for its events' Kafka key and for outflows to mark it."""
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
    await upsert(session, CaseRow, rows, key="record_id")


async def save_case_and_notices(
    session: AsyncSession, row: dict[str, Any], notices: list[PlannedNotice], *, now: datetime
) -> list[PlannedNotice]:
    """`save_cases` of one case and `notice_store.add_notices` of its new notices; returns those new. On
    PostgreSQL one statement (the notices inserted, skipping those issued before, the case overwritten), where
    the two took three round trips."""
    raw = await bulk.driver(session)
    if raw is None:
        await save_cases(session, [row])
        return await notice_store.add_notices(session, notices, now=now)
    planned = {n.notice_id: n for n in notices}
    inserted = await bulk.insert_together(
        raw,
        [
            bulk.Rows(
                NoticeRow,
                [notice_store.notice_row(n, now) for n in planned.values()],
                key="notice_id",
                returning="notice_id",
            ),
            bulk.Rows(CaseRow, [row], key="record_id", overwrite=True),
        ],
    )
    if not planned:
        return []
    new = set(inserted)
    return [n for n in planned.values() if n.notice_id in new]


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
