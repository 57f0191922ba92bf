"""At each cut-off, every street's weekly report as XLSX into a folder (REPORTING_EXPORT_DIR).

Failure policy: a failed pass is logged and the job waits for the next
cut-off; files are written to a temporary name and renamed, so a reader
never sees half a workbook. The clock is injected, so a test triggers a
cut-off without waiting for Friday.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import structlog

from services.reporting.adapters.exports import to_xlsx
from services.reporting.domain.sheets import weekly_sheet
from services.reporting.service_layer.reports import ReportService
from shared.clock import Clock

log = structlog.get_logger(__name__)


class CutoffExporter:
    def __init__(self, reports: ReportService, *, folder: Path, districts: Sequence[str], clock: Clock) -> None:
        self._reports = reports
        self._folder = folder
        self._districts = list(districts)
        self._clock = clock

    async def run(self) -> None:
        """Export at every cut-off until cancelled."""
        while True:
            try:
                await self.run_once()
            except Exception as error:
                log.error("weekly export failed", error=type(error).__name__)

    async def run_once(self) -> list[Path]:
        """Wait for the next cut-off, then export the week it closed."""
        calendar = self._reports.calendar
        cut_off = calendar.next_cut_off(self._clock.now())
        await self._clock.sleep_until(cut_off)
        return await self.export_week(calendar.week_of(cut_off - timedelta(seconds=1)))

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
