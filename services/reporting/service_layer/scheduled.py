"""At each cut-off, every street's weekly report as XLSX into a folder (REPORTING_EXPORT_DIR).

Failure policy: a failed export of a week is retried with backoff (1, 2, 4 ...
minutes, up to `RETRIES` times); a week still unwritten after that is kept
and tried again first at every later cut-off, so no week's files are skipped
for good. Every failure counts in popflow_reporting_export_failures_total,
and /readyz shows the failure count, the weeks not yet written and the last
error's kind (the service stays ready: its API works, only the files lag).
Files are written to a temporary name and renamed, so a reader never sees
half a workbook. The clock is injected, so a test triggers a cut-off
without waiting for Friday.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog

from services.reporting.adapters.exports import to_xlsx
from services.reporting.adapters.metrics import EXPORT_FAILURES
from services.reporting.domain.sheets import weekly_sheet
from services.reporting.service_layer.reports import ReportService
from shared.clock import Clock

log = structlog.get_logger(__name__)
RETRIES = 6
FIRST_DELAY = timedelta(minutes=1)
LONGEST_DELAY = timedelta(minutes=30)


@dataclass
class ExportStatus:
    failures_total: int = 0
    unwritten_weeks: list[str] = field(default_factory=list)
    last_error: str | None = None

    def shown(self) -> dict[str, Any]:
        return {
            "weekly_export": {
                "failures_total": self.failures_total,
                "unwritten_weeks": list(self.unwritten_weeks),
                "last_error": self.last_error,
            }
        }


class CutoffExporter:
    def __init__(self, reports: ReportService, *, folder: Path, districts: Sequence[str], clock: Clock) -> None:
        self._reports = reports
        self._folder = folder
        self._districts = list(districts)
        self._clock = clock
        self.status = ExportStatus()

    async def run(self) -> None:
        """Export at every cut-off until cancelled."""
        while True:
            await self.run_once()

    async def run_once(self) -> list[Path]:
        """Wait for the next cut-off, then export the weeks still unwritten and the week it closed."""
        calendar = self._reports.calendar
        cut_off = calendar.next_cut_off(self._clock.now())
        await self._clock.sleep_until(cut_off)
        closed = calendar.week_of(cut_off - timedelta(seconds=1))
        written: list[Path] = []
        for week in [*self.status.unwritten_weeks, closed]:
            written += await self.export_with_retries(week)
        return written

    async def export_with_retries(self, week: str) -> list[Path]:
        """The week's files, tried up to RETRIES times with backoff; [] when it stays unwritten."""
        delay = FIRST_DELAY
        for attempt in range(1, RETRIES + 1):
            try:
                written = await self.export_week(week)
            except Exception as error:
                self._failed(week, error, attempt)
                if attempt < RETRIES:
                    await self._clock.sleep_until(self._clock.now() + delay)
                    delay = min(delay * 2, LONGEST_DELAY)
                continue
            if week in self.status.unwritten_weeks:
                self.status.unwritten_weeks.remove(week)
            return written
        return []

    def _failed(self, week: str, error: Exception, attempt: int) -> None:
        EXPORT_FAILURES.inc()
        self.status.failures_total += 1
        self.status.last_error = type(error).__name__
        if week not in self.status.unwritten_weeks:
            self.status.unwritten_weeks.append(week)
        log.error("weekly export failed", week=week, attempt=attempt, error=type(error).__name__)

    async def export_week(self, week: str) -> list[Path]:
        reports = self._reports
        streets: set[str] = set()
        for district in self._districts:  # every street of the served districts, quiet ones too
            streets |= set(await reports.weekly_store.streets_with_facts(district))
            streets |= set(reports.directory.streets_of(district))
        target = self._folder / week
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for street in sorted(streets):
            report = await reports.weekly(street, week)
            path = target / f"{week}-{street}.xlsx"
            partial = path.with_suffix(".xlsx.part")
            partial.write_bytes(to_xlsx(weekly_sheet(report, reports.calendar.zone)))
            partial.replace(path)
            written.append(path)
        log.info("weekly export written", week=week, files=len(written))
        return written
