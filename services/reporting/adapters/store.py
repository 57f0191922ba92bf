"""Folds record events into report facts and counts them per street and week.

Folding is idempotent: it sets facts (submitted, the route) rather than
adding to counters, so an event delivered twice changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from services.reporting.adapters.tables import ReportRecord


class ReportStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def fold(
        self,
        *,
        record_id: str,
        reporting_street: str,
        week: str,
        observed_at: datetime,
        submitted: bool = False,
        route: str | None = None,
    ) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(ReportRecord, record_id)
            if row is None:
                row = ReportRecord(
                    record_id=record_id,
                    reporting_street=reporting_street,
                    week=week,
                    observed_at=observed_at,
                )
                session.add(row)
            row.submitted = row.submitted or submitted
            row.route = route or row.route

    async def counts(self, *, street: str, week: str) -> tuple[int, dict[str, int]]:
        """(records, {route: count}) for one street's week."""
        query = (
            select(col(ReportRecord.route), func.count())
            .where(col(ReportRecord.reporting_street) == street, col(ReportRecord.week) == week)
            .group_by(ReportRecord.route)
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        per_route = {route: count for route, count in rows if route is not None}
        return sum(count for _, count in rows), per_route
