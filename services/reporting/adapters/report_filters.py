"""The SQL conditions the report's figures are counted by, shared by the weekly counts, the ids behind
each count (items.py) and the other report stores: one definition, so a count and its list agree.

`code` is a 9-digit street or a 6-digit district; every filter is a prefix
match on it, so a street and its district's roll-up use the same queries.
All timestamps are passed and stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from services.reporting.adapters.tables import notices, records
from services.reporting.domain.campaign import TargetPopulation
from services.reporting.domain.figures import HANDOVER_KINDS, unanswered_bounds
from services.reporting.domain.weeks import ReportWeek


def utc(moment: datetime) -> datetime:
    """Aware UTC; SQLite hands back naive datetimes, which were written in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def within(column: Any, code: str) -> Any:
    return column.like(f"{code}%")


def submitted() -> sa.ColumnElement[bool]:
    """Records whose RecordSubmitted is folded: no figure, list or check counts any other.

    RecordSubmitted and RecordRouted come on different topics, so a record's RecordRouted can be folded
    first. Its row then holds a street, week and route but none of the record's own facts (kind,
    certificate, person, received_at) until the RecordSubmitted follows, as it always does: routing
    routes only what intake submitted. Readers of those facts (event_kind IS NOT NULL, a person key) see
    no such row anyway; a reader that needs only the record's street (the fold's notice senders) must
    not filter."""
    return records.c.submitted


def records_of_week(week: ReportWeek, code: str) -> Any:
    """The records counted in `code`'s week: observed in it, reported in the street or district, submitted."""
    return sa.and_(records.c.week == week.name, within(records.c.reporting_street, code), submitted())


def target_condition(target: TargetPopulation, on: date) -> Any:
    """The SQL form of TargetPopulation.matches over the record facts."""
    conditions: list[Any] = [records.c.event_kind.is_not(None)]
    if target.sexes:
        conditions.append(records.c.sex.in_(sorted(target.sexes)))
    if target.marital_statuses:
        conditions.append(records.c.marital_status.in_(sorted(target.marital_statuses)))
    earliest, latest = target.birth_dates(on)
    if earliest:
        conditions.append(records.c.birth_date >= earliest)
    if latest:
        conditions.append(records.c.birth_date <= latest)
    if target.arrived_from:
        conditions.append(records.c.arrival_date >= target.arrived_from)
    if target.arrived_to:
        conditions.append(records.c.arrival_date <= target.arrived_to)
    return sa.and_(*conditions)


def expects_answer() -> Any:
    """Notices that ask for an answer; one folded before migration 0010 (no kind kept) counts as one, as before."""
    return sa.or_(notices.c.answer_expected.is_(None), notices.c.answer_expected.is_(True))


def handover() -> Any:
    """Notices that hand a case over (figures.HANDOVER_KINDS, expecting an answer): 表二's sent and received.
    One folded before migration 0010 counts as a handover, as before."""
    return sa.or_(
        notices.c.kind.is_(None), sa.and_(notices.c.kind.in_(HANDOVER_KINDS), notices.c.answer_expected.is_(True))
    )


def unanswered_case(as_of: datetime) -> Any:
    three, seven = unanswered_bounds(utc(as_of))
    return sa.case(
        (notices.c.issued_at > three, "under_3_days"),
        (notices.c.issued_at > seven, "3_to_7_days"),
        else_="over_7_days",
    )


def unanswered_condition(code: str, as_of: datetime) -> Any:
    return sa.and_(
        within(notices.c.recipient_code, code),
        expects_answer(),
        notices.c.issued_at < utc(as_of),
        sa.or_(notices.c.answered_at.is_(None), notices.c.answered_at > utc(as_of)),
    )
