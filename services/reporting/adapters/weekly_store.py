"""Aggregated queries behind the weekly report: one grouped query per family of figures.

`code` is a 9-digit street or a 6-digit district; every filter (report_filters.py) is a prefix
match on it, so a street and its district's roll-up use the same queries.
All timestamps are passed and stored in UTC.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.report_filters import (
    handover,
    target_condition,
    unanswered_case,
    unanswered_condition,
    utc,
    within,
)
from services.reporting.adapters.tables import notices, records, rejections
from services.reporting.domain.campaign import TargetPopulation
from services.reporting.domain.figures import NOTICE_ROUTES, RECORD_ROUTES, DelaySummary
from services.reporting.domain.weekly import StreetWeek
from services.reporting.domain.weeks import ReportWeek

Row = Callable[[str], StreetWeek]  # a code's StreetWeek, made the first time the code comes up


def _notice_queries(week: ReportWeek, code: str, as_of: datetime) -> tuple[Any, Any, Any]:
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


def _records_in_week(week: ReportWeek, code: str, received_before: datetime | None) -> Any:
    """The records counted in `code`'s week; with `received_before`, only those received before then."""
    in_week = sa.and_(records.c.week == week.name, within(records.c.reporting_street, code))
    if received_before is None:
        return in_week
    # a record folded before received_at was kept (reporting migration 0002) counts, as it always has
    received = sa.or_(records.c.received_at.is_(None), records.c.received_at < utc(received_before))
    return sa.and_(in_week, received)


def _record_counts(in_week: Any) -> Any:
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


def _rejections_in(week: ReportWeek, code: str) -> Any:
    """Submissions intake rejected in the week, per street."""
    return (
        sa.select(rejections.c.reporting_street, sa.func.count())
        .where(rejections.c.week == week.name, within(rejections.c.reporting_street, code))
        .group_by(rejections.c.reporting_street)
    )


def _target_counts(in_week: Any, target: TargetPopulation, on: date) -> Any:
    """The week's records of the campaign's target population, per street."""
    return (
        sa.select(records.c.reporting_street, sa.func.count())
        .where(in_week, target_condition(target, on))
        .group_by(records.c.reporting_street)
    )


def _add_record_counts(counted: list[Any], row: Row) -> None:
    """_record_counts' rows: every record, its kind's figure, its certificate's and its route's."""
    for street, kind, cert, route, count in counted:
        target_row = row(street)
        target_row.records += count
        if kind:
            target_row.figures[kind] += count
        if kind and cert:
            target_row.figures[f"certificate_{cert}"] += count
        if route in RECORD_ROUTES:
            target_row.routes[route] += count


def _add_figures(counted: list[Any], row: Row, *, prefix: str) -> None:
    """Rows of (code, what, count) into the figure named `prefix` + what (a notice route, an age)."""
    for code, what, count in counted:
        row(code).figures[f"{prefix}{what}"] += count


def _add_figure(counted: list[Any], row: Row, figure: str) -> None:
    """Rows of (code, count) into `figure`."""
    for code, count in counted:
        row(code).figures[figure] += count


class WeeklyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # PostgreSQL summarises the delays in place and runs the report's queries at once; SQLite does neither
        self._postgres = engine.dialect.name == "postgresql"

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    def _delay_seconds(self) -> Any:
        if self._postgres:
            return sa.extract("epoch", records.c.received_at - records.c.observed_at)
        # julianday is a float of days: round away its representation error (to the millisecond)
        days = sa.func.julianday(records.c.received_at) - sa.func.julianday(records.c.observed_at)
        return sa.func.round(days * 86400.0, 3)

    async def _rows(self, query: Any) -> list[Any]:
        async with self._engine.connect() as connection:
            return list((await connection.execute(query)).all())

    async def _all(self, queries: list[Any]) -> list[list[Any]]:
        """Each query's rows, in order. On PostgreSQL they run at once, each on a connection of its own:
        the report's few heavy aggregates then share the server's cores instead of queueing on one
        (a district's week over 1,000,000 records: the delay percentiles, the unanswered notices and
        the record counts took 290, 170 and 80 ms one after the other). SQLite runs them in turn."""
        if not self._postgres:
            return [await self._rows(query) for query in queries]
        return list(await asyncio.gather(*(self._rows(query) for query in queries)))

    async def street_weeks(
        self,
        week: ReportWeek,
        code: str,
        *,
        as_of: datetime,
        target: TargetPopulation | None,
        on: date,
        received_before: datetime | None = None,
    ) -> tuple[dict[str, StreetWeek], DelaySummary | None]:
        """{street or bureau code: its counts}, and the entry-delay summary of all of `code` (None: compute it).

        A bureau code (6 digits) holds the notices addressed to the bureau itself. With `received_before`,
        only the records received before then count (the week as it stood at its cut-off).
        """
        in_week = _records_in_week(week, code, received_before)
        delays = self._delay_queries(in_week, week)
        queries = [_record_counts(in_week), *_notice_queries(week, code, as_of), _rejections_in(week, code), *delays]
        if target is not None:
            queries.append(_target_counts(in_week, target, on))
        return self._street_rows(iter(await self._all(queries)), delays=len(delays), target=target is not None)

    def _street_rows(
        self, results: Iterator[list[Any]], *, delays: int, target: bool
    ) -> tuple[dict[str, StreetWeek], DelaySummary | None]:
        """The rows of street_weeks' queries, taken in the order it sent them, added up per street."""
        rows: dict[str, StreetWeek] = {}

        def row(street: str) -> StreetWeek:
            return rows.setdefault(street, StreetWeek(code=street))

        _add_record_counts(next(results), row)
        _add_figures(next(results), row, prefix="sent_")
        _add_figures(next(results), row, prefix="received_")
        _add_figures(next(results), row, prefix="unanswered_")
        _add_figure(next(results), row, "rejected_at_intake")
        total_delay = self._apply_delays([next(results) for _ in range(delays)], row)
        if target:
            _add_figure(next(results), row, "target_population")
        return rows, total_delay

    def _delay_queries(self, in_week: Any, week: ReportWeek) -> list[Any]:
        """Entry delays and the latest late arrival (received after the cut-off) per street."""
        late = sa.func.max(sa.case((records.c.received_at >= utc(week.ends_at), records.c.received_at)))
        received = sa.and_(in_week, records.c.received_at.is_not(None))
        if not self._postgres:
            return [
                sa.select(records.c.reporting_street, self._delay_seconds()).where(received),
                sa.select(records.c.reporting_street, late).where(received).group_by(records.c.reporting_street),
            ]
        # PostgreSQL summarises in place (percentile_disc is the nearest rank), per street and,
        # through ROLLUP, for all of them: no delay leaves the database.
        delay = self._delay_seconds()
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

    def _apply_delays(self, results: list[list[Any]], row: Row) -> DelaySummary | None:
        if not self._postgres:  # every delay, summarised by the domain
            delays, latest_rows = results
            for street, seconds in delays:
                row(street).delays_s.append(float(seconds))
            for street, latest in latest_rows:
                row(street).late_at = utc(latest) if latest else None
            return None
        total: DelaySummary | None = (0, None, None)
        for street, count, median, p90, latest in results[0]:
            if street is None:
                total = (count, median, p90)
                continue
            row(street).delay = (count, median, p90)
            row(street).late_at = utc(latest) if latest else None
        return total

    async def received_after(self, week: ReportWeek, street: str, moment: datetime) -> list[str]:
        """Record ids counted in a street's week that arrived after `moment` (its sign-off)."""
        query = (
            sa.select(records.c.record_id)
            .where(
                records.c.week == week.name, records.c.reporting_street == street, records.c.received_at > utc(moment)
            )
            .order_by(records.c.record_id)
        )
        return [record_id for (record_id,) in await self._rows(query)]

    async def streets_with_facts(self, district: str) -> list[str]:
        query = sa.select(records.c.reporting_street).where(within(records.c.reporting_street, district)).distinct()
        return sorted(street for (street,) in await self._rows(query))
