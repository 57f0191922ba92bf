"""The grouped queries behind the weekly report, one per family of figures; weekly_store.py runs them
and adds their rows up per street. Each is a SELECT over the filters of report_filters.py."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from services.reporting.adapters.report_filters import (
    handover,
    records_of_week,
    target_condition,
    unanswered_case,
    unanswered_condition,
    utc,
    within,
)
from services.reporting.adapters.tables import notices, records, rejections
from services.reporting.domain.campaign import TargetPopulation
from services.reporting.domain.figures import NOTICE_ROUTES
from services.reporting.domain.weeks import ReportWeek


def notice_queries(week: ReportWeek, code: str, as_of: datetime) -> tuple[Any, Any, Any]:
    """Notices sent and received in the week by route, and those unanswered as of `as_of` by age."""
    # Sent and received count the handovers of the two routes that have them in the census's table;
    # informational notices, follow-ups and a same-district record's change or outflow notices are not among them.
    by_route = sa.and_(notices.c.week == week.name, notices.c.route.in_(NOTICE_ROUTES), handover())
    sent = (
        sa.select(notices.c.sender_street, notices.c.route, sa.func.count())
        .where(by_route, within(notices.c.sender_street, code))
        .group_by(notices.c.sender_street, notices.c.route)
    )
    received = (
        sa.select(notices.c.recipient_code, notices.c.route, sa.func.count())
        .where(by_route, within(notices.c.recipient_code, code))
        .group_by(notices.c.recipient_code, notices.c.route)
    )
    age = unanswered_case(as_of)
    unanswered = (
        sa.select(notices.c.recipient_code, age, sa.func.count())
        .where(unanswered_condition(code, as_of))
        .group_by(notices.c.recipient_code, age)
    )
    return sent, received, unanswered


def records_in_week(week: ReportWeek, code: str, received_before: datetime | None) -> Any:
    """The records counted in `code`'s week; with `received_before`, only those received before then."""
    in_week = records_of_week(week, code)
    if received_before is None:
        return in_week
    # a record folded before received_at was kept (reporting migration 0002) counts, as it always has
    received = sa.or_(records.c.received_at.is_(None), records.c.received_at < utc(received_before))
    return sa.and_(in_week, received)


def record_counts(in_week: Any) -> Any:
    """The week's records per street, event kind, certificate result and route."""
    return (
        sa.select(
            records.c.reporting_street,
            records.c.event_kind,
            records.c.cert_result,
            records.c.route,
            sa.func.count(),
        )
        .where(in_week)
        .group_by(records.c.reporting_street, records.c.event_kind, records.c.cert_result, records.c.route)
    )


def rejections_in(week: ReportWeek, code: str) -> Any:
    """Submissions intake rejected in the week, per street."""
    return (
        sa.select(rejections.c.reporting_street, sa.func.count())
        .where(rejections.c.week == week.name, within(rejections.c.reporting_street, code))
        .group_by(rejections.c.reporting_street)
    )


def target_counts(in_week: Any, target: TargetPopulation, on: date) -> Any:
    """The week's records of the campaign's target population, per street."""
    return (
        sa.select(records.c.reporting_street, sa.func.count())
        .where(in_week, target_condition(target, on))
        .group_by(records.c.reporting_street)
    )


def delay_queries(in_week: Any, week: ReportWeek, *, postgres: bool) -> list[Any]:
    """Entry delays and the latest late arrival (received after the cut-off) per street.

    PostgreSQL summarises the delays in place: one query, whose rows WeeklyStore takes as summaries. SQLite
    cannot: two, every delay and each street's latest arrival, which the domain then summarises."""
    late = sa.func.max(sa.case((records.c.received_at >= utc(week.ends_at), records.c.received_at)))
    received = sa.and_(in_week, records.c.received_at.is_not(None))
    if not postgres:
        return [
            sa.select(records.c.reporting_street, _delay_seconds(postgres=False)).where(received),
            sa.select(records.c.reporting_street, late).where(received).group_by(records.c.reporting_street),
        ]
    # PostgreSQL summarises in place (percentile_disc is the nearest rank), per street and,
    # through ROLLUP, for all of them: no delay leaves the database.
    delay = _delay_seconds(postgres=True)
    return [
        sa.select(
            records.c.reporting_street,
            sa.func.count(),
            sa.func.percentile_disc(0.5).within_group(delay),
            sa.func.percentile_disc(0.9).within_group(delay),
            late,
        )
        .where(received)
        .group_by(sa.func.rollup(records.c.reporting_street))
    ]


def _delay_seconds(*, postgres: bool) -> Any:
    if postgres:
        return sa.extract("epoch", records.c.received_at - records.c.observed_at)
    # julianday is a float of days: round away its representation error (to the millisecond)
    days = sa.func.julianday(records.c.received_at) - sa.func.julianday(records.c.observed_at)
    return sa.func.round(days * 86400.0, 3)
