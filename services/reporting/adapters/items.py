"""The ids behind each count of the weekly report: the same filters as the counts, listed."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.tables import notices, records, rejections
from services.reporting.adapters.weekly_store import (
    handover,
    target_condition,
    unanswered_case,
    unanswered_condition,
    within,
)
from services.reporting.domain.campaign import TargetPopulation
from services.reporting.domain.figures import NOTICE_ROUTES, UNANSWERED_AGES
from services.reporting.domain.weeks import ReportWeek
from shared.events import EventKind
from shared.events.record_parts import CertificateResult

EVENT_KINDS = frozenset(EventKind)
CERTIFICATE_RESULTS = frozenset(CertificateResult)


class UnknownFigure(ValueError):
    """The figure name is not one of the report's (or needs a campaign that does not exist)."""


def figure_query(
    figure: str, week: ReportWeek, code: str, *, as_of: datetime, target: TargetPopulation | None, on: date
) -> Any:
    """SELECT of (id, street) pairs behind `figure`; record ids, except rejections (their event ids)."""
    in_week = sa.and_(records.c.week == week.name, within(records.c.reporting_street, code))
    by_record = sa.select(records.c.record_id, records.c.reporting_street)
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
        return sa.select(notices.c.record_id, notices.c.sender_street).where(
            notices.c.week == week.name, within(notices.c.sender_street, code), notices.c.route == rest, handover()
        )
    if kind == "received" and rest in NOTICE_ROUTES:
        return sa.select(notices.c.record_id, notices.c.recipient_code).where(
            notices.c.week == week.name, within(notices.c.recipient_code, code), notices.c.route == rest, handover()
        )
    if kind == "unanswered" and rest in UNANSWERED_AGES:
        return sa.select(notices.c.record_id, notices.c.recipient_code).where(
            unanswered_condition(code, as_of), unanswered_case(as_of) == rest
        )
    if figure == "rejected_at_intake":
        return sa.select(rejections.c.rejection_id, rejections.c.reporting_street).where(
            rejections.c.week == week.name, within(rejections.c.reporting_street, code)
        )
    raise UnknownFigure(f"{figure!r} is not a figure of the weekly report")


# A figure's items joined to the record they name, for its community (a rejection keeps no record).
located = records.alias("located")
WITHOUT_RECORD = frozenset({"rejected_at_intake"})


def _located(figure: str, query: Any) -> tuple[Any, Any, Any, Any]:
    """(FROM clause, item id, street, community of the item's record) of a figure's item query."""
    items = query.subquery()
    item_id, street = list(items.c)[:2]
    if figure in WITHOUT_RECORD:
        return items, item_id, street, sa.cast(sa.null(), sa.String(12))
    return items.outerjoin(located, located.c.record_id == item_id), item_id, street, located.c.community


def week_records_query(week: ReportWeek, code: str) -> Any:
    """Every fact row of the week (the report's `records`), as (record id, street) like the figures."""
    in_week = sa.and_(records.c.week == week.name, within(records.c.reporting_street, code))
    return sa.select(records.c.record_id, records.c.reporting_street).where(in_week)


async def figure_items(engine: AsyncEngine, figure: str, query: Any) -> list[dict[str, str | None]]:
    """The id, street and community of each item of `figure`, by id."""
    joined, item_id, street, community = _located(figure, query)
    async with engine.connect() as connection:
        rows = (await connection.execute(sa.select(item_id, street, community).select_from(joined))).all()
    return [
        {"id": str(found), "street": str(place), "community": area}
        for found, place, area in sorted(rows, key=lambda r: str(r[0]))
    ]


async def figure_counts(engine: AsyncEngine, queries: dict[str, Any]) -> list[tuple[str, str | None, int]]:
    """(figure, community, count) for every figure of `queries`, in one round trip."""
    parts = []
    for figure, query in queries.items():
        joined, _, _, community = _located(figure, query)
        name = sa.literal(figure, sa.String()).label("figure")
        counted = sa.select(name, community.label("community"), sa.func.count()).select_from(joined)
        parts.append(counted if figure in WITHOUT_RECORD else counted.group_by(community))
    async with engine.connect() as connection:
        rows = (await connection.execute(sa.union_all(*parts))).all()
    return [(str(figure), area, int(count)) for figure, area, count in rows]
