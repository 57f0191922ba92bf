"""Certificates followed up, per street or district: the list and its sheet, as of today in the deployment's zone."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from services.reporting.adapters.certificate_store import CertificateStore
from services.reporting.domain.certificates import FollowUpItem, follow_up_sheet, follow_ups
from services.reporting.domain.sheets import Sheet
from services.reporting.domain.weeks import WeekCalendar
from shared.clock import Clock

LIST_LIMIT = 5000  # the most urgent first; a longer list says it was cut


@dataclass(frozen=True)
class FollowUpList:
    items: list[FollowUpItem]
    limit: int
    truncated: bool  # more persons need following up than `limit`; the least urgent were left out


@dataclass(frozen=True)
class CertificateFollowUps:
    store: CertificateStore
    calendar: WeekCalendar
    clock: Clock
    limit: int = LIST_LIMIT

    def today(self) -> date:
        return self.clock.now().astimezone(self.calendar.zone).date()

    async def items(self, code: str, *, within_days: int) -> FollowUpList:
        today = self.today()
        checks = await self.store.latest_checks(
            code,
            today=today,
            horizon=today + timedelta(days=within_days),
            zone=self.calendar.zone,
            limit=self.limit + 1,  # one more than shown tells whether the list was cut
        )
        items = follow_ups(checks[: self.limit], today=today, within_days=within_days)
        return FollowUpList(items, self.limit, truncated=len(checks) > self.limit)

    async def listing(self, code: str, *, within_days: int) -> dict[str, Any]:
        found = await self.items(code, within_days=within_days)
        return {
            "code": code,
            "as_of": self.today().isoformat(),
            "within_days": within_days,
            "items": [asdict(item) | {"follow_up": item.follow_up.value} for item in found.items],
            "limit": found.limit,
            "truncated": found.truncated,
        }

    async def sheet(self, code: str, *, within_days: int) -> Sheet:
        found = await self.items(code, within_days=within_days)
        cut = found.limit if found.truncated else None
        return follow_up_sheet(code, found.items, today=self.today(), within_days=within_days, cut_at=cut)
