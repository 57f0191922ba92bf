"""Report weeks: Friday 10:00 to Friday 10:00 Asia/Shanghai, named by the ending Friday."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.reporting.domain.weeks import FRIDAY, WeekCalendar, report_week, report_week_of

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("moment", "week"),
    [
        ("2027-02-24T10:30:00+08:00", "2027-W08"),  # Wednesday
        ("2027-02-26T09:59:59+08:00", "2027-W08"),  # Friday just before the cut-off
        ("2027-02-26T10:00:00+08:00", "2027-W09"),  # at the cut-off: the next week
        ("2027-02-26T01:59:00+00:00", "2027-W08"),  # 09:59 in Shanghai, given in UTC
        ("2027-02-26T02:00:00+00:00", "2027-W09"),  # 10:00 in Shanghai, given in UTC
        ("2027-02-19T10:00:00+08:00", "2027-W08"),  # the first instant of W08
        ("2026-12-31T12:00:00+08:00", "2026-W53"),  # ends Friday 2027-01-01, in ISO week 53 of 2026
    ],
)
def test_report_week_of(moment: str, week: str) -> None:
    assert report_week_of(datetime.fromisoformat(moment), SHANGHAI) == week


def test_week_bounds_round_trip() -> None:
    bounds = report_week("2027-W08", SHANGHAI)
    assert bounds.starts_at == datetime(2027, 2, 19, 10, tzinfo=SHANGHAI)
    assert bounds.ends_at == datetime(2027, 2, 26, 10, tzinfo=SHANGHAI)
    assert report_week_of(bounds.starts_at, SHANGHAI) == "2027-W08"
    assert report_week_of(bounds.ends_at, SHANGHAI) == "2027-W09"


@pytest.mark.parametrize("name", ["2027-8", "2027-W60", "W08-2027", ""])
def test_bad_week_names(name: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        report_week(name, SHANGHAI)


@pytest.mark.parametrize(
    ("zone", "cut_off"),
    [
        ("Asia/Shanghai", time(10)),
        ("Asia/Kolkata", time(10)),  # a half-hour offset: the cut-off falls inside a UTC hour
        ("America/New_York", time(10, 30, 15)),  # summer time, and a cut-off off the hour
        ("Australia/Lord_Howe", time(2, 15)),  # a half-hour shift of summer time
    ],
)
def test_the_calendars_remembered_hours_name_every_instant_as_the_rule_does(zone: str, cut_off: time) -> None:
    tz, rng = ZoneInfo(zone), random.Random(zone)
    calendar = WeekCalendar(tz, weekday=FRIDAY, cut_off=cut_off)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ends = [report_week(f"2026-W{n:02d}", tz, cut_off=cut_off).ends_at for n in range(2, 50, 3)]
    moments = [start + timedelta(seconds=rng.uniform(0, 86400 * 400)) for _ in range(20_000)]
    moments += [end + timedelta(seconds=delta) for end in ends for delta in (-3600, -1, -1e-6, 0, 1e-6, 1, 3599)]
    rng.shuffle(moments)  # cut-off hours met both before and after the hours around them are remembered
    for moment in moments:
        assert calendar.week_of(moment) == report_week_of(moment, tz, cut_off=cut_off), moment
