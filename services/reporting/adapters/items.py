"""The ids behind each count of the weekly report: the same filters as the counts, listed."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.tables import notices, records, rejections
from services.reporting.adapters.weekly_store import (
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
            notices.c.week == week.name, within(notices.c.sender_street, code), notices.c.route == rest
        )
    if kind == "received" and rest in NOTICE_ROUTES:
        return sa.select(notices.c.record_id, notices.c.recipient_code).where(
            notices.c.week == week.name, within(notices.c.recipient_code, code), notices.c.route == rest
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


async def figure_items(engine: AsyncEngine, query: Any) -> list[dict[str, str]]:
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [{"id": str(item_id), "street": str(street)} for item_id, street in sorted(rows, key=lambda r: str(r[0]))]
