"""Counts behind the quality figures of each street, for one report week."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.report_filters import expects_answer, records_of_week, utc, within
from services.reporting.adapters.tables import notices, records
from services.reporting.domain.facts import OPTIONAL_FIELDS
from services.reporting.domain.quality import EXPIRY_WINDOW_DAYS, QualityCounts
from services.reporting.domain.weeks import ReportWeek
from shared.db.engine import reading


class QualityStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = reading(engine)  # on SQLite: no write lock taken, no writer held back

    async def _rows(self, query: Any) -> list[Any]:
        async with self._reads.connect() as connection:
            return list((await connection.execute(query)).all())

    async def counts(
        self, week: ReportWeek, code: str, *, as_of: datetime, answer_target: timedelta
    ) -> dict[str, QualityCounts]:
        """Per street. `as_of` is when the notices' answers are judged: ReportService.answers_judged_at."""
        in_week = sa.and_(records_of_week(week, code), records.c.event_kind.is_not(None))
        mask = records.c.missing_mask
        ends_on = week.ends_at.date()
        columns = [
            sa.func.count(),
            sa.func.sum(sa.case((mask != 0, 1), else_=0)),
            sa.func.sum(
                sa.case(
                    (
                        sa.and_(
                            records.c.cert_valid_until > ends_on,
                            records.c.cert_valid_until <= ends_on + timedelta(days=EXPIRY_WINDOW_DAYS),
                        ),
                        1,
                    ),
                    else_=0,
                )
            ),
            sa.func.count(sa.distinct(records.c.person_key)),
            *[sa.func.sum(sa.case((mask.op("&")(1 << bit) != 0, 1), else_=0)) for bit in range(len(OPTIONAL_FIELDS))],
        ]
        base = {}
        for street, total, missing, expiring, persons, *by_field in await self._rows(
            sa.select(records.c.reporting_street, *columns).where(in_week).group_by(records.c.reporting_street)
        ):
            base[street] = (
                total,
                missing or 0,
                expiring or 0,
                persons,
                dict(zip(OPTIONAL_FIELDS, by_field, strict=True)),
            )
        again = await self._seen_again(in_week, utc(week.ends_at))
        answered = await self._answered(week, code, as_of, answer_target)
        result = {}
        for street in sorted(set(base) | set(answered)):
            total, missing, expiring, persons, by_field = base.get(street, (0, 0, 0, 0, {}))
            due, in_time = answered.get(street, (0, 0))
            result[street] = QualityCounts(
                records=total,
                missing_any=missing,
                missing_by_field={k: int(v or 0) for k, v in by_field.items()},
                certificates_expiring=expiring,
                persons=persons,
                persons_seen_again=again.get(street, 0),
                notices_due=due,
                notices_answered_in_time=in_time,
            )
        return result

    async def _seen_again(self, in_week: Any, until: datetime) -> dict[str, int]:
        """Per street: persons of its week who appear in more than one record up to the week's end."""
        repeated = (
            sa.select(records.c.person_key)
            .where(records.c.person_key.is_not(None), records.c.observed_at < until)
            .group_by(records.c.person_key)
            .having(sa.func.count() > 1)
            .subquery()
        )
        query = (
            sa.select(records.c.reporting_street, sa.func.count(sa.distinct(records.c.person_key)))
            .where(in_week, records.c.person_key.in_(sa.select(repeated.c.person_key)))
            .group_by(records.c.reporting_street)
        )
        return {street: int(count) for street, count in await self._rows(query)}

    async def _answered(
        self, week: ReportWeek, code: str, as_of: datetime, target: timedelta
    ) -> dict[str, tuple[int, int]]:
        """Per recipient: (notices of the week that expect an answer and are due — answered, or older than the
        target — answered in time), as of `as_of`."""
        query = sa.select(notices.c.recipient_code, notices.c.issued_at, notices.c.answered_at).where(
            notices.c.week == week.name, within(notices.c.recipient_code, code), expects_answer()
        )
        now = utc(as_of)
        due: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for recipient, issued, answered in await self._rows(query):
            issued, answered = utc(issued), utc(answered) if answered else None
            if answered is not None and answered > now:
                answered = None
            if answered is None and now - issued <= target:
                continue
            due[recipient][0] += 1
            due[recipient][1] += int(answered is not None and answered - issued <= target)
        return {k: (v[0], v[1]) for k, v in due.items()}
