"""A failed scheduled export is retried with backoff, counted, shown, and caught up at the next cut-off."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from services.reporting.adapters.metrics import EXPORT_FAILURES
from services.reporting.service_layer.scheduled import RETRIES, CutoffExporter
from shared.clock import FixedClock

START = datetime.fromisoformat("2027-02-26T10:00:00+08:00")


class SleeplessClock(FixedClock):
    """sleep_until moves the clock there at once and remembers how long each sleep was."""

    def __init__(self, at: datetime) -> None:
        super().__init__(at)
        self.sleeps: list[timedelta] = []

    async def sleep_until(self, moment: datetime) -> None:
        self.sleeps.append(moment - self.now())
        self.advance_to(moment)


class FlakyExporter(CutoffExporter):
    def __init__(self, clock: SleeplessClock, failures: int) -> None:
        calendar = type("Calendar", (), {"next_cut_off": lambda _, now: now, "week_of": lambda _, now: "2027-W09"})()
        reports = cast(Any, type("Reports", (), {"calendar": calendar})())
        super().__init__(reports, folder=Path("/nonexistent"), districts=["440111"], clock=clock)
        self.failures_left = failures
        self.exported: list[str] = []

    async def export_week(self, week: str) -> list[Path]:
        if self.failures_left:
            self.failures_left -= 1
            raise OSError("disk full")
        self.exported.append(week)
        return [Path(f"{week}.xlsx")]


def failures_counted() -> float:
    [metric] = EXPORT_FAILURES.collect()
    return float(next(s.value for s in metric.samples if s.name.endswith("_total")))


async def test_a_failed_export_is_retried_with_backoff_and_counted() -> None:
    clock = SleeplessClock(START)
    exporter = FlakyExporter(clock, failures=2)
    counted = failures_counted()
    assert await exporter.export_with_retries("2027-W08") == [Path("2027-W08.xlsx")]
    assert clock.sleeps == [timedelta(minutes=1), timedelta(minutes=2)]
    assert exporter.status.shown() == {
        "weekly_export": {"failures_total": 2, "unwritten_weeks": [], "last_error": "OSError"}
    }
    assert failures_counted() == counted + 2


async def test_a_week_that_stays_unwritten_is_shown_and_written_at_the_next_cut_off() -> None:
    clock = SleeplessClock(START)
    exporter = FlakyExporter(clock, failures=RETRIES)
    assert await exporter.export_with_retries("2027-W08") == []
    assert exporter.status.shown()["weekly_export"]["unwritten_weeks"] == ["2027-W08"]
    assert await exporter.run_once() == [Path("2027-W08.xlsx"), Path("2027-W09.xlsx")]
    assert exporter.exported == ["2027-W08", "2027-W09"]
    assert exporter.status.unwritten_weeks == []
