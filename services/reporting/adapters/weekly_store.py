"""The weekly report's counts per street: weekly_queries.py's grouped queries, run and added up.

`code` is a 9-digit street or a 6-digit district (report_filters.py): a street and its district's
roll-up use the same queries. All timestamps are passed and stored in UTC.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.report_filters import submitted, utc, within
from services.reporting.adapters.tables import records
from services.reporting.adapters.weekly_queries import (
    delay_queries,
    notice_queries,
    record_counts,
    records_in_week,
    rejections_in,
    target_counts,
)
from services.reporting.domain.campaign import TargetPopulation
from services.reporting.domain.figures import RECORD_ROUTES, DelaySummary
from services.reporting.domain.weekly import StreetWeek
from services.reporting.domain.weeks import ReportWeek
from shared.db.engine import reading

Row = Callable[[str], StreetWeek]  # a code's StreetWeek, made the first time the code comes up


def _add_record_counts(counted: list[Any], row: Row) -> None:
    """record_counts' rows: every record, its kind's figure, its certificate's and its route's."""
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
        self._reads = reading(engine)  # on SQLite: no write lock taken, no writer held back
        # PostgreSQL summarises the delays in place and runs the report's queries at once; SQLite does neither
        self._postgres = engine.dialect.name == "postgresql"

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def _rows(self, query: Any) -> list[Any]:
        async with self._reads.connect() as connection:
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
        in_week = records_in_week(week, code, received_before)
        delays = delay_queries(in_week, week, postgres=self._postgres)
        queries = [record_counts(in_week), *notice_queries(week, code, as_of), rejections_in(week, code), *delays]
        if target is not None:
            queries.append(target_counts(in_week, target, on))
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

    def _apply_delays(self, results: list[list[Any]], row: Row) -> DelaySummary | None:
        """delay_queries' rows: on PostgreSQL each street's summary and, in ROLLUP's row, all of them."""
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
                records.c.week == week.name,
                records.c.reporting_street == street,
                submitted(),
                records.c.received_at > utc(moment),
            )
            .order_by(records.c.record_id)
        )
        return [record_id for (record_id,) in await self._rows(query)]

    async def streets_with_facts(self, district: str) -> list[str]:
        query = (
            sa.select(records.c.reporting_street)
            .where(within(records.c.reporting_street, district), submitted())
            .distinct()
        )
        return sorted(street for (street,) in await self._rows(query))
