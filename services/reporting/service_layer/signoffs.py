"""A street submits its week; the bureau accepts it (locking it) or returns it."""

from __future__ import annotations

from services.reporting.domain.signoff import Decision, Signoff, SignoffRefused, review, submit
from services.reporting.service_layer.errors import Conflict
from services.reporting.service_layer.reports import ReportService
from shared.signoff_refusals import Refusal


async def submit_week(reports: ReportService, street: str, week: str) -> Signoff:
    bounds = reports.bounds(week)
    current = await reports.signoffs.get(street, week)
    try:
        signoff = submit(current, street=street, week=week, at=reports.clock.now(), opens_at=bounds.starts_at)
    except SignoffRefused as error:
        raise Conflict(str(error), reason=error.reason) from error
    await _replace(reports, signoff, current)
    return signoff


async def review_week(reports: ReportService, street: str, week: str, decision: Decision, comment: str) -> Signoff:
    current = await reports.signoffs.get(street, week)
    try:
        signoff = review(current, decision=decision, comment=comment, at=reports.clock.now())
    except SignoffRefused as error:
        raise Conflict(str(error), reason=error.reason) from error
    await _replace(reports, signoff, current)
    return signoff


async def _replace(reports: ReportService, signoff: Signoff, current: Signoff | None) -> None:
    """Write the step only over the state it was decided on: two clerks' steps at once, one 409."""
    if not await reports.signoffs.save(signoff, replacing=current):
        raise Conflict(
            "Someone else changed this week's sign-off at the same moment; reload it and decide again.",
            reason=Refusal.CHANGED_MEANWHILE,
        )
