"""Each person's latest certificate check, read from the record facts (one query, window functions)."""

from __future__ import annotations

from datetime import date, datetime, tzinfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.report_filters import submitted, utc, within
from services.reporting.adapters.tables import records
from services.reporting.domain.certificates import ORDER, FollowUp, LatestCheck
from shared.db.engine import reading


def _latest(*conditions: sa.ColumnElement[bool]) -> sa.Subquery:
    """Per person, their records newest first (`n` = 1 is the latest) among those meeting `conditions`."""
    newest = sa.func.row_number().over(
        partition_by=records.c.person_key,
        order_by=(records.c.observed_at.desc(), records.c.received_at.desc(), records.c.record_id.desc()),
    )
    return (
        sa.select(records, newest.label("n"))
        .where(submitted(), records.c.person_key.is_not(None), *conditions)
        .subquery()
    )


class CertificateStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = reading(engine)  # on SQLite: no write lock taken, no writer held back

    async def latest_checks(
        self, code: str, *, today: date, horizon: date, zone: tzinfo, limit: int
    ) -> list[LatestCheck]:
        """The latest check of every person whose latest record puts them in `code` (not moved away),
        unless it is valid beyond `horizon`; checked dates in `zone`. The `limit` most urgent as of `today`,
        in the order of domain.certificates.follow_ups, so that a cut keeps the most urgent on either database."""
        person, checked = _latest(), _latest(records.c.cert_result.is_not(None))
        query = (
            sa.select(
                checked.c.record_id,
                person.c.residence_street,
                checked.c.cert_result,
                checked.c.cert_valid_until,
                checked.c.observed_at,
            )
            .join(checked, sa.and_(checked.c.person_key == person.c.person_key, checked.c.n == 1))
            .where(person.c.n == 1, person.c.event_kind != "outflow", within(person.c.residence_street, code))
            .where(
                sa.or_(
                    checked.c.cert_result != "valid",
                    checked.c.cert_valid_until.is_(None),
                    checked.c.cert_valid_until <= horizon,
                )
            )
            .order_by(
                _urgency(checked.c.cert_result, checked.c.cert_valid_until, today),
                # no date first, as in the domain's sort (date.min); PostgreSQL would put NULLs last, SQLite first
                checked.c.cert_valid_until.asc().nulls_first(),
                person.c.residence_street,
                checked.c.record_id,
            )
            .limit(limit)
        )
        async with self._reads.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [LatestCheck(r[0], r[1], r[2], r[3], _day(r[4], zone)) for r in rows]


def _urgency(result: sa.ColumnElement[str], valid_until: sa.ColumnElement[date], today: date) -> sa.Case[int]:
    """The rank of domain.certificates.follow_up_of in SQL: missing, invalid, expired, expiring."""
    return sa.case(
        (result == "missing", ORDER[FollowUp.MISSING]),
        (result == "invalid", ORDER[FollowUp.INVALID]),
        (sa.or_(result == "expired", valid_until < today), ORDER[FollowUp.EXPIRED]),
        else_=ORDER[FollowUp.EXPIRING],
    )


def _day(moment: datetime, zone: tzinfo) -> date:
    return utc(moment).astimezone(zone).date()
