"""Report weeks: Friday 10:00 to the next Friday 10:00, local time.

A week is named by the ISO week of the Friday on which it ends, so the
report due on Friday 2027-02-26 at 10:00 is "2027-W08" and covers
2027-02-19 10:00 up to (not including) 2027-02-26 10:00. A record observed
exactly at 10:00 on a Friday belongs to the week that starts then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

FRIDAY = 4
CUT_OFF = time(10, 0)
WEEK_PATTERN = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, slots=True)
class ReportWeek:
    name: str
    starts_at: datetime
    ends_at: datetime


def report_week_of(moment: datetime, zone: ZoneInfo) -> str:
    """The name of the report week that `moment` (timezone-aware) counts in."""
    local = moment.astimezone(zone)
    days_ahead = (FRIDAY - local.weekday()) % 7
    friday = local.date() + timedelta(days=days_ahead)
    if days_ahead == 0 and local.time() >= CUT_OFF:
        friday += timedelta(days=7)
    year, week, _ = friday.isocalendar()
    return f"{year}-W{week:02d}"


def report_week(name: str, zone: ZoneInfo) -> ReportWeek:
    """The bounds of a named week; ValueError for a malformed or impossible name."""
    match = WEEK_PATTERN.match(name)
    if match is None:
        raise ValueError("a week is written YYYY-Www, e.g. 2027-W08")
    friday = date.fromisocalendar(int(match[1]), int(match[2]), FRIDAY + 1)
    ends_at = datetime.combine(friday, CUT_OFF, tzinfo=zone)
    return ReportWeek(name=name, starts_at=ends_at - timedelta(days=7), ends_at=ends_at)
