"""At each cut-off, every street's weekly report as XLSX into a folder (REPORTING_EXPORT_DIR).

Runs on the leading replica only (shared/db/leader.py), and starts again on
whichever replica leads next. Each start catches up first: a week's files are
noted in the store (table weekly_exports) once they are all in place, so a
week of the last REPORTING_EXPORT_CATCH_UP_WEEKS that a restart, an upgrade
or a crash left unwritten or half-written is written at once, before the job
waits for the next cut-off. A week's files hold the week as it stood at its
cut-off (records received later are left out), so a late run writes what the
run at the cut-off would have.

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

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import structlog

from services.reporting.adapters.exports import to_xlsx, write_whole
from services.reporting.adapters.metrics import EXPORT_FAILURES
from services.reporting.domain.export_weeks import weeks_owed
from services.reporting.domain.sheets import weekly_sheet
from services.reporting.service_layer.reports import ReportService
from shared.clock import Clock
from shared.files import sync_folder

log = structlog.get_logger(__name__)
RETRIES = 6
FIRST_DELAY = timedelta(minutes=1)
LONGEST_DELAY = timedelta(minutes=30)
CATCH_UP_WEEKS = 4
FOLD_WAIT = timedelta(minutes=15)  # how long the export waits for the fold to take in what was on the topics

# Whether the fold takes in, within so many seconds, every event on its topics at the call (adapters/fold_progress.py)
FoldSettled = Callable[[float], Awaitable[bool]]


async def _settled_at_once(within_s: float) -> bool:
    return True


class WrittenWeeks(Protocol):
    """The durable record of the weeks written (adapters/export_record.py; a dict in the unit tests)."""

    async def written(self, districts: Sequence[str]) -> dict[str, set[str]]: ...

    async def record(self, week: str, districts: Sequence[str], *, files: int, at: datetime) -> None: ...


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
    def __init__(
        self,
        reports: ReportService,
        *,
        folder: Path,
        districts: Sequence[str],
        clock: Clock,
        written: WrittenWeeks,
        catch_up_weeks: int = CATCH_UP_WEEKS,
        fold_settled: FoldSettled | None = None,
    ) -> None:
        self._reports = reports
        self._folder = folder
        self._districts = list(districts)
        self._clock = clock
        self._written = written
        self._catch_up_weeks = catch_up_weeks
        self._fold_settled = fold_settled or _settled_at_once
        self.status = ExportStatus()

    async def run(self) -> None:
        """Catch up, then export at every cut-off until cancelled."""
        while True:
            await self.run_once()

    async def run_once(self) -> list[Path]:
        """Write the weeks owed at once, then wait for the next cut-off and export the weeks still
        unwritten and the week it closed."""
        calendar = self._reports.calendar
        cut_off = calendar.next_cut_off(self._clock.now())  # before catching up, which may outlast it
        written = await self.catch_up()
        await self._clock.sleep_until(cut_off)
        closed = calendar.week_of(cut_off - timedelta(seconds=1))
        complete = await self._fold_caught_up()
        for week in [*self.status.unwritten_weeks, closed]:
            written += await self.export_with_retries(week, complete=complete)
        return written

    async def catch_up(self) -> list[Path]:
        """The files of every closed week of the last `catch_up_weeks` the record lacks, written now.
        A week this replica gave up on (after RETRIES) waits for the next cut-off instead."""
        try:
            owed = await self.weeks_owed()
        except Exception as error:  # the store is away: the week is caught up at the next start or cut-off
            self._counted(error)
            log.error("weekly export catch-up failed", error=type(error).__name__)
            return []
        owed = [week for week in owed if week not in self.status.unwritten_weeks]
        if not owed:
            return []
        complete = await self._fold_caught_up()  # after a restart the fold has the downtime's events to read
        written: list[Path] = []
        for week in owed:
            written += await self.export_with_retries(week, complete=complete)
        log.info("weekly export caught up", weeks=owed, unwritten=[w for w in owed if w in self.status.unwritten_weeks])
        return written

    async def weeks_owed(self) -> list[str]:
        calendar = self._reports.calendar
        current = calendar.week_of(self._clock.now())
        closed = calendar.weeks_up_to(current, self._catch_up_weeks + 1)[:-1]
        return weeks_owed(closed, await self._written.written(self._districts))

    async def _fold_caught_up(self) -> bool:
        """Whether the fold took in every event on its topics now, within FOLD_WAIT: a record received before the
        cut-off and not yet folded would be missing from the files for good."""
        try:
            return await self._fold_settled(FOLD_WAIT.total_seconds())
        except Exception as error:  # Kafka away: the files are written, and written again later
            log.warning("could not tell whether the fold caught up", error=type(error).__name__)
            return False

    async def export_with_retries(self, week: str, *, complete: bool = True) -> list[Path]:
        """The week's files, tried up to RETRIES times with backoff; [] when it stays unwritten. Files written
        while the fold was behind (`complete` false) are not recorded: the week is written again at the next
        start or cut-off."""
        delay = FIRST_DELAY
        for attempt in range(1, RETRIES + 1):
            try:
                written = await self.export_week(week)
                if complete:
                    await self._written.record(week, self._districts, files=len(written), at=self._clock.now())
            except Exception as error:
                self._failed(week, error, attempt)
                if attempt < RETRIES:
                    await self._clock.sleep_until(self._clock.now() + delay)
                    delay = min(delay * 2, LONGEST_DELAY)
                continue
            if not complete:
                log.warning("weekly export written before the fold caught up; written again later", week=week)
                if week not in self.status.unwritten_weeks:
                    self.status.unwritten_weeks.append(week)
            elif week in self.status.unwritten_weeks:
                self.status.unwritten_weeks.remove(week)
            return written
        return []

    def _counted(self, error: Exception) -> None:
        EXPORT_FAILURES.inc()
        self.status.failures_total += 1
        self.status.last_error = type(error).__name__

    def _failed(self, week: str, error: Exception, attempt: int) -> None:
        self._counted(error)
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
            report = await reports.weekly(street, week, at_cut_off=True)
            path = target / f"{week}-{street}.xlsx"
            write_whole(path, to_xlsx(weekly_sheet(report, reports.calendar.zone)))
            written.append(path)
        sync_folder(target)
        log.info("weekly export written", week=week, files=len(written))
        return written
