"""The ids behind each count of the weekly report: the same filters as the counts, listed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.report_filters import (
    handover,
    records_of_week,
    target_condition,
    unanswered_case,
    unanswered_condition,
    within,
)
from services.reporting.adapters.tables import notices, records, rejections
from services.reporting.domain.campaign import TargetPopulation
from services.reporting.domain.figures import NOTICE_ROUTES, UNANSWERED_AGES
from services.reporting.domain.paging import Position
from services.reporting.domain.weeks import ReportWeek
from shared.db.engine import reading
from shared.events import EventKind
from shared.events.record_parts import CertificateResult

EVENT_KINDS = frozenset(EventKind)
CERTIFICATE_RESULTS = frozenset(CertificateResult)
KEY = "item_key"  # the column of every item query that tells rows of one id apart


class UnknownFigure(ValueError):
    """The figure name is not one of the report's (or needs a campaign that does not exist)."""


def figure_query(
    figure: str, week: ReportWeek, code: str, *, as_of: datetime, target: TargetPopulation | None, on: date
) -> Any:
    """SELECT of (id, street, key) behind `figure`; record ids, except rejections (their event ids). The key
    tells rows of one id apart (a record's two notices) so that a list can be paged in (id, key) order."""
    in_week = records_of_week(week, code)
    by_record = sa.select(records.c.record_id, records.c.reporting_street, records.c.record_id.label(KEY))
    if figure in EVENT_KINDS:
        return by_record.where(in_week, records.c.event_kind == figure)
    kind, _, rest = figure.partition("_")
    if kind == "certificate" and rest in CERTIFICATE_RESULTS:
        return by_record.where(in_week, records.c.event_kind.is_not(None), records.c.cert_result == rest)
    if figure == "target_population":
        if target is None:
            raise UnknownFigure("no campaign runs in this week, so there is no target population")
        return by_record.where(in_week, target_condition(target, on))
    if kind == "sent" and rest in NOTICE_ROUTES:
        return sa.select(notices.c.record_id, notices.c.sender_street, notices.c.notice_id.label(KEY)).where(
            notices.c.week == week.name, within(notices.c.sender_street, code), notices.c.route == rest, handover()
        )
    if kind == "received" and rest in NOTICE_ROUTES:
        return sa.select(notices.c.record_id, notices.c.recipient_code, notices.c.notice_id.label(KEY)).where(
            notices.c.week == week.name, within(notices.c.recipient_code, code), notices.c.route == rest, handover()
        )
    if kind == "unanswered" and rest in UNANSWERED_AGES:
        return sa.select(notices.c.record_id, notices.c.recipient_code, notices.c.notice_id.label(KEY)).where(
            unanswered_condition(code, as_of), unanswered_case(as_of) == rest
        )
    if figure == "rejected_at_intake":
        rejection_id = rejections.c.rejection_id
        return sa.select(rejection_id, rejections.c.reporting_street, rejection_id.label(KEY)).where(
            rejections.c.week == week.name, within(rejections.c.reporting_street, code)
        )
    raise UnknownFigure(f"{figure!r} is not a figure of the weekly report")


# A figure's items joined to the record they name, for its community (a rejection keeps no record).
located = records.alias("located")
WITHOUT_RECORD = frozenset({"rejected_at_intake"})


class Located(NamedTuple):
    joined: Any  # FROM clause
    item_id: Any
    street: Any
    community: Any  # of the item's record
    key: Any  # tells rows of one id apart


def _located(figure: str, query: Any) -> Located:
    """A figure's item query as FROM clause and columns, joined to its item's record for the community."""
    items = query.subquery()
    item_id, street, key = items.c[0], items.c[1], items.c[KEY]
    if figure in WITHOUT_RECORD:
        return Located(items, item_id, street, sa.cast(sa.null(), sa.String(12)), key)
    joined = items.outerjoin(located, located.c.record_id == item_id)
    return Located(joined, item_id, street, located.c.community, key)


def week_records_query(week: ReportWeek, code: str) -> Any:
    """Every fact row of the week (the report's `records`), as (record id, street, key) like the figures."""
    return sa.select(records.c.record_id, records.c.reporting_street, records.c.record_id.label(KEY)).where(
        records_of_week(week, code)
    )


@dataclass(frozen=True)
class ItemPage:
    items: list[dict[str, str | None]]
    total: int  # every item of the figure, on this page or not
    last: Position | None  # where the page ended, when more items follow


async def figure_items(
    engine: AsyncEngine, figure: str, query: Any, *, limit: int, after: Position | None = None
) -> ItemPage:
    """The id, street and community of the first `limit` items of `figure` after `after`, by id (then key)."""
    joined, item_id, street, community, key = _located(figure, query)
    # byte order on PostgreSQL whatever the database's collation, as on SQLite: one cursor, one place
    by_id: sa.ColumnElement[str] = sa.func.coalesce(item_id, "")
    by_key: sa.ColumnElement[str] = key
    if engine.dialect.name == "postgresql":
        by_id, by_key = sa.collate(by_id, "C"), sa.collate(by_key, "C")
    page = sa.select(item_id, street, community, by_id.label("sort_id"), by_key.label("sort_key"))
    page = page.select_from(joined).order_by(by_id, by_key).limit(limit + 1)  # one more than shown: do more follow?
    if after is not None:
        page = page.where(sa.or_(by_id > after[0], sa.and_(by_id == after[0], by_key > after[1])))
    total = sa.select(sa.func.count()).select_from(joined)
    async with reading(engine).connect() as connection:
        rows = (await connection.execute(page)).all()
        counted = int((await connection.execute(total)).scalar_one())
    shown = rows[:limit]
    last = (str(shown[-1][3]), str(shown[-1][4])) if len(rows) > limit else None
    items = [{"id": str(found), "street": str(place), "community": area} for found, place, area, *_ in shown]
    return ItemPage(items, counted, last)


async def figure_counts(engine: AsyncEngine, queries: dict[str, Any]) -> list[tuple[str, str | None, int]]:
    """(figure, community, count) for every figure of `queries`, in one round trip."""
    parts = []
    for figure, query in queries.items():
        found = _located(figure, query)
        name = sa.literal(figure, sa.String()).label("figure")
        counted = sa.select(name, found.community.label("community"), sa.func.count()).select_from(found.joined)
        parts.append(counted if figure in WITHOUT_RECORD else counted.group_by(found.community))
    async with reading(engine).connect() as connection:
        rows = (await connection.execute(sa.union_all(*parts))).all()
    return [(str(figure), area, int(count)) for figure, area, count in rows]
