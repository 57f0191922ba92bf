"""The scheduled export: a failed week is retried with backoff, counted, shown, and caught up at the next cut-off;
a replica that starts after a cut-off writes at once the weeks the record of written weeks lacks."""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from services.reporting.adapters.export_record import ExportRecord
from services.reporting.adapters.metrics import EXPORT_FAILURES
from services.reporting.bootstrap import MIGRATIONS
from services.reporting.domain.export_weeks import weeks_owed
from services.reporting.domain.weeks import WeekCalendar
from services.reporting.service_layer import scheduled
from services.reporting.service_layer.scheduled import FOLD_WAIT, RETRIES, CutoffExporter, FoldSettled, WrittenWeeks
from shared.clock import FixedClock
from shared.db import build_engine, run_migrations
from tests.support.logs import logged_by

START = datetime.fromisoformat("2027-02-26T10:00:00+08:00")
CALENDAR = WeekCalendar(ZoneInfo("Asia/Shanghai"))


class InMemoryWrittenWeeks:
    """WrittenWeeks in a dict: the store's record without the store."""

    def __init__(self, written: dict[str, set[str]] | None = None) -> None:
        self.weeks: dict[str, set[str]] = written or {}

    async def written(self, districts: Sequence[str]) -> dict[str, set[str]]:
        return {district: set(self.weeks.get(district, ())) for district in districts}

    async def record(self, week: str, districts: Sequence[str], *, files: int, at: datetime) -> None:
        for district in districts:
            self.weeks.setdefault(district, set()).add(week)


class SleeplessClock(FixedClock):
    """sleep_until moves the clock there at once and remembers how long each sleep was."""

    def __init__(self, at: datetime) -> None:
        super().__init__(at)
        self.sleeps: list[timedelta] = []

    async def sleep_until(self, moment: datetime) -> None:
        self.sleeps.append(moment - self.now())
        self.advance_to(max(moment, self.at))


class FlakyExporter(CutoffExporter):
    """Fails its first `failures` exports; a week's "files" are one path named after it."""

    def __init__(
        self,
        clock: FixedClock,
        failures: int = 0,
        written: WrittenWeeks | None = None,
        fold_settled: FoldSettled | None = None,
    ) -> None:
        reports = cast(Any, types.SimpleNamespace(calendar=CALENDAR))
        record = written if written is not None else InMemoryWrittenWeeks({"440111": {"2027-W07"}})
        super().__init__(
            reports,
            folder=Path("/nonexistent"),
            districts=["440111"],
            clock=clock,
            written=record,
            fold_settled=fold_settled,
        )
        self.failures_left = failures
        self.exported: list[tuple[str, datetime]] = []

    async def export_week(self, week: str) -> list[Path]:
        if self.failures_left:
            self.failures_left -= 1
            raise OSError("disk full")
        self.exported.append((week, self._clock.now()))
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
    # given up on after RETRIES: not tried again at once, but first after the next cut-off
    assert await exporter.run_once() == [Path("2027-W08.xlsx"), Path("2027-W09.xlsx")]
    assert [week for week, _ in exporter.exported] == ["2027-W08", "2027-W09"]
    assert exporter.exported[0][1] == datetime.fromisoformat("2027-03-05T10:00:00+08:00")
    assert exporter.status.unwritten_weeks == []


async def test_a_replica_started_just_after_the_cut_off_still_writes_the_week_it_closed() -> None:
    """The replica that led was restarted (an upgrade, a crash, an OOM kill) at Friday 10:00 while writing
    2027-W08's files, so the record of written weeks lacks W08; the one that takes over (or the restarted one)
    starts its export job at 10:02 and writes W08 at once, not a week later."""
    clock = SleeplessClock(datetime.fromisoformat("2027-02-26T10:02:00+08:00"))
    exporter = FlakyExporter(clock)
    await exporter.run_once()
    weeks = [week for week, _ in exporter.exported]
    assert "2027-W08" in weeks, f"exported {exporter.exported}: 2027-W08 was never written"
    assert exporter.exported[0][1] - datetime.fromisoformat("2027-02-26T10:02:00+08:00") < timedelta(hours=1)


async def test_the_catch_up_writes_every_week_owed_of_the_window_once_and_logs_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """W06 failed for good under the last leader and W08 was cut short; W04 lies before the window of four."""
    record = InMemoryWrittenWeeks({"440111": {"2027-W03", "2027-W05", "2027-W07"}})
    exporter = FlakyExporter(SleeplessClock(datetime.fromisoformat("2027-02-27T08:00:00+08:00")), written=record)
    with logged_by(monkeypatch, scheduled) as logs:
        assert await exporter.catch_up() == [Path("2027-W06.xlsx"), Path("2027-W08.xlsx")]
        assert await exporter.catch_up() == []  # recorded: a second start writes nothing
    assert [line for line in logs if line["event"] == "weekly export caught up"] == [
        {"event": "weekly export caught up", "weeks": ["2027-W06", "2027-W08"], "unwritten": [], "log_level": "info"}
    ]
    assert record.weeks["440111"] >= {"2027-W06", "2027-W08"}


async def test_a_catch_up_whose_record_cannot_be_read_is_counted_and_the_job_goes_on() -> None:
    class Unreachable(InMemoryWrittenWeeks):
        async def written(self, districts: Sequence[str]) -> dict[str, set[str]]:
            raise ConnectionRefusedError("the store is away")

    exporter = FlakyExporter(SleeplessClock(START), written=Unreachable())
    assert await exporter.catch_up() == []
    assert exporter.status.shown()["weekly_export"]["last_error"] == "ConnectionRefusedError"


@pytest.mark.parametrize(
    ("written", "owed"),
    [
        ({"440111": set()}, ["2027-W08"]),  # a new deployment: the last closed week, not the whole window
        ({"440111": {"2027-W01"}}, ["2027-W05", "2027-W06", "2027-W07", "2027-W08"]),
        ({"440111": {"2027-W06", "2027-W08"}}, ["2027-W07"]),
        ({"440111": {"2027-W05", "2027-W06", "2027-W07", "2027-W08"}}, []),
        # a district served from W07 on owes nothing before; one that lacks W08 makes W08 owed
        ({"440111": {"2027-W05", "2027-W06", "2027-W07"}, "440106": {"2027-W07", "2027-W08"}}, ["2027-W08"]),
    ],
)
def test_the_weeks_owed(written: dict[str, set[str]], owed: list[str]) -> None:
    closed = ["2027-W05", "2027-W06", "2027-W07", "2027-W08"]
    assert weeks_owed(closed, written) == owed


@pytest.fixture(params=["in memory", "sqlite"])
async def record(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[WrittenWeeks]:
    if request.param == "in memory":
        yield InMemoryWrittenWeeks()
        return
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/reporting.db")
    await run_migrations(engine, MIGRATIONS)
    yield ExportRecord(engine)
    await engine.dispose()


async def test_the_record_of_written_weeks(record: WrittenWeeks) -> None:
    """The fake and the store's table agree (the PostgreSQL table: tests/integration/test_reporting_week.py)."""
    assert await record.written(["440111", "440106"]) == {"440111": set(), "440106": set()}
    await record.record("2027-W08", ["440111", "440106"], files=22, at=START)
    await record.record("2027-W08", ["440111"], files=22, at=START + timedelta(minutes=5))  # written again
    await record.record("2027-W09", ["440111"], files=22, at=START + timedelta(days=7))
    assert await record.written(["440111", "440106"]) == {"440111": {"2027-W08", "2027-W09"}, "440106": {"2027-W08"}}
    assert await record.written(["440104"]) == {"440104": set()}


async def test_files_written_while_the_fold_is_behind_are_not_recorded_and_written_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a restart the fold has the downtime's events still to read: a record received before the cut-off and
    not yet folded would be missing from files recorded as written for good. Files written while the fold has not
    caught up within FOLD_WAIT are not recorded, and the week is written again at the next cut-off."""
    asked: list[float] = []
    behind = [True, False]  # the catch-up finds the fold behind; at the next cut-off it has caught up

    async def fold_settled(within_s: float) -> bool:
        asked.append(within_s)
        return not behind.pop(0)

    record = InMemoryWrittenWeeks({"440111": {"2027-W07"}})
    clock = SleeplessClock(datetime.fromisoformat("2027-02-26T10:02:00+08:00"))
    exporter = FlakyExporter(clock, written=record, fold_settled=fold_settled)
    with logged_by(monkeypatch, scheduled) as logs:
        assert await exporter.catch_up() == [Path("2027-W08.xlsx")]
    assert record.weeks["440111"] == {"2027-W07"}  # written, not recorded
    assert exporter.status.unwritten_weeks == ["2027-W08"]
    assert "weekly export written before the fold caught up; written again later" in [line["event"] for line in logs]

    assert await exporter.run_once() == [Path("2027-W08.xlsx"), Path("2027-W09.xlsx")]
    assert record.weeks["440111"] == {"2027-W07", "2027-W08", "2027-W09"}
    assert exporter.status.unwritten_weeks == []
    assert asked == [FOLD_WAIT.total_seconds()] * 2
