"""The reminder job: unanswered notices are reminded after N working days and
escalated to the reporting bureau after 2N.

Each pass works in batches, one transaction per batch: the follow-up notices
(at most one per case version, recipient and kind) and the marks on the
waiting notices commit together, after the events were published. A crash
mid-pass leaves the batch unmarked, so the next pass issues the same notices
with the same ids. Rows are locked with SKIP LOCKED, so two routing
processes never remind the same notice at once. A pass reminds before it
escalates, so a notice past both days is reminded and escalated in the same
pass, never escalated alone. A notice whose case is not stored
(NoticeWithoutCase) can never be followed up: it is set aside, marked as
followed up with nothing issued and logged by its ids, so that it neither
fails the pass of every other notice of its batch nor comes back at the next.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.adapters import notice_store
from services.routing.adapters.emitter import Outgoing
from services.routing.adapters.tables import NoticeRow
from services.routing.domain.schedule import latest_issue_day_due
from services.routing.domain.workflow import follow_up_notice
from services.routing.service_layer.context import NoticeWithoutCase, RoutingContext, case_of_notice, notice_issued
from shared.background import every
from shared.events import NoticeKind

log = structlog.get_logger(__name__)


class ReminderJob:
    def __init__(
        self,
        context: RoutingContext,
        *,
        deadline_days: int,
        holidays: Collection[date],
        zone: ZoneInfo,
        batch: int = 500,
    ) -> None:
        self._context = context
        self._deadline_days = deadline_days
        self._holidays = frozenset(holidays)
        self._zone = zone
        self._batch = batch

    async def run(self, interval_s: float) -> None:
        """Pass after pass until cancelled; a failed pass is logged and tried again next time."""
        await every(interval_s, self.run_once, failed="reminder pass failed")

    async def run_once(self) -> int:
        """One pass at the clock's current time; returns how many follow-up notices were issued."""
        today = self._context.clock.now().astimezone(self._zone).date()
        total = 0
        # reminders first: a notice past both days (the job stopped, or a rebuilt store) is reminded and then
        # escalated, as it was or would have been on each day, not escalated alone
        for kind, days in (
            (NoticeKind.REMINDER, self._deadline_days),
            (NoticeKind.ESCALATION, 2 * self._deadline_days),
        ):
            cutoff = self._start_of_day_after(latest_issue_day_due(today, days, self._holidays))
            while (issued := await self._batch_of(kind, cutoff)) is not None:
                total += issued
        if total:
            log.info("reminder pass", follow_ups=total)
        return total

    async def _batch_of(self, kind: NoticeKind, cutoff: datetime) -> int | None:
        """Follow up one batch; None when nothing was left to do."""
        async with self._context.sessions.begin() as session:
            rows = await notice_store.waiting_notices(
                session, issued_before=cutoff, unreminded=kind is NoticeKind.REMINDER, limit=self._batch
            )
            if not rows:
                return None
            outgoing = [event for row in rows for event in await self._follow_up(session, row, kind)]
            await self._context.emitter.emit(outgoing)
        return len(outgoing)

    async def _follow_up(self, session: AsyncSession, row: NoticeRow, kind: NoticeKind) -> list[Outgoing]:
        now = self._context.clock.now()
        if kind is NoticeKind.REMINDER:
            row.reminded_at = now
        else:
            row.escalated_at = now
        try:
            case, key, _ = await case_of_notice(
                session, self._context.keyring, notice_id=row.notice_id, record_id=row.record_id
            )
        except NoticeWithoutCase as error:  # set aside: marked reminded and escalated, never met again
            row.reminded_at, row.escalated_at = row.reminded_at or now, row.escalated_at or now
            log.error("notice set aside from follow-ups", notice_id=row.notice_id, kind=kind.value, error=str(error))
            return []
        planned = follow_up_notice(case, notice_store.planned_from(row), kind, self._context.recipients())
        issued = await notice_store.add_notices(session, [planned], now=now)
        return [
            notice_issued(n, case, key=key, now=now, deadlines=self._context.deadlines, keyring=self._context.keyring)
            for n in issued
        ]

    def _start_of_day_after(self, day: date) -> datetime:
        return datetime.combine(day + timedelta(days=1), time(), tzinfo=self._zone)
