"""A street submits its week; the bureau accepts it (locking it) or returns it."""

from __future__ import annotations

from services.reporting.domain.signoff import Decision, Signoff, SignoffRefused, review, submit
from services.reporting.service_layer.errors import Conflict
from services.reporting.service_layer.reports import ReportService


async def submit_week(reports: ReportService, street: str, week: str) -> Signoff:
    reports.bounds(week)
    current = await reports.signoffs.get(street, week)
    try:
        signoff = submit(current, street=street, week=week, at=reports.clock.now())
    except SignoffRefused as error:
        raise Conflict(str(error)) from error
    await reports.signoffs.save(signoff)
    return signoff


async def review_week(reports: ReportService, street: str, week: str, decision: Decision, comment: str) -> Signoff:
    current = await reports.signoffs.get(street, week)
    try:
        signoff = review(current, decision=decision, comment=comment, at=reports.clock.now())
    except SignoffRefused as error:
        raise Conflict(str(error)) from error
    await reports.signoffs.save(signoff)
    return signoff
