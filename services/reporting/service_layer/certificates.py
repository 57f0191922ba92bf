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

LIST_LIMIT = 5000


@dataclass(frozen=True)
class CertificateFollowUps:
    store: CertificateStore
    calendar: WeekCalendar
    clock: Clock

    def today(self) -> date:
        return self.clock.now().astimezone(self.calendar.zone).date()

    async def items(self, code: str, *, within_days: int) -> list[FollowUpItem]:
        today = self.today()
        checks = await self.store.latest_checks(
            code, horizon=today + timedelta(days=within_days), zone=self.calendar.zone, limit=LIST_LIMIT
        )
        return follow_ups(checks, today=today, within_days=within_days)

    async def listing(self, code: str, *, within_days: int) -> dict[str, Any]:
        items = await self.items(code, within_days=within_days)
        return {
            "code": code,
            "as_of": self.today().isoformat(),
            "within_days": within_days,
            "items": [asdict(item) | {"follow_up": item.follow_up.value} for item in items],
        }

    async def sheet(self, code: str, *, within_days: int) -> Sheet:
        items = await self.items(code, within_days=within_days)
        return follow_up_sheet(code, items, today=self.today(), within_days=within_days)
