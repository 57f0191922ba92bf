"""Report weeks: from one cut-off to the next (by default Friday 10:00 local time).

A week is named by the ISO week of the day on which it ends, so the
report due on Friday 2027-02-26 at 10:00 is "2027-W08" and covers
2027-02-19 10:00 up to (not including) 2027-02-26 10:00. A record observed
exactly at the cut-off belongs to the week that starts then. The weekday and
the time of the cut-off are settings; the defaults are the census's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

FRIDAY = 4
CUT_OFF = time(10, 0)
HOURS_KEPT = 24 * 7 * 60  # sixty weeks of hours: more than one campaign's events span
WEEK_PATTERN = re.compile(r"([0-9]{4})-W([0-9]{2})")
# No one is seen before being born (intake checks the identity number's birth date), and a week near the
# calendar's ends has no week before it (a trend) or window after it (expiring certificates) to compute
FIRST_YEAR, LAST_YEAR = 1900, 9998


def in_report_years(day: date) -> date:
    """`day`, when it lies in the years a report covers; ValueError otherwise (a campaign's phase in 9999
    has no list due after it, nor a week to count it in)."""
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"lies outside the years {FIRST_YEAR} to {LAST_YEAR}")
    return day


@dataclass(frozen=True, slots=True)
class ReportWeek:
    name: str
    starts_at: datetime
    ends_at: datetime


def report_week_of(moment: datetime, zone: ZoneInfo, *, weekday: int = FRIDAY, cut_off: time = CUT_OFF) -> str:
    """The name of the report week that `moment` (timezone-aware) counts in."""
    local = moment.astimezone(zone)
    days_ahead = (weekday - local.weekday()) % 7
    last_day = local.date() + timedelta(days=days_ahead)
    # the cut-off as the instant report_week ends the week at, not as a time on the wall clock: on a day the
    # clocks change, a cut-off in the hour skipped or repeated would otherwise name a moment for a week it is not in
    if days_ahead == 0 and moment.timestamp() >= datetime.combine(last_day, cut_off, tzinfo=zone).timestamp():
        last_day += timedelta(days=7)
    year, week, _ = last_day.isocalendar()
    return f"{year}-W{week:02d}"


def report_week(name: str, zone: ZoneInfo, *, weekday: int = FRIDAY, cut_off: time = CUT_OFF) -> ReportWeek:
    """The bounds of a named week; ValueError for a malformed or impossible name."""
    match = WEEK_PATTERN.fullmatch(name)
    if match is None:
        raise ValueError("a week is written YYYY-Www, e.g. 2027-W08")
    year, week = int(match[1]), int(match[2])
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"a report week lies in the years {FIRST_YEAR} to {LAST_YEAR}")
    last_day = date.fromisocalendar(year, week, weekday + 1)
    ends_at = datetime.combine(last_day, cut_off, tzinfo=zone)
    return ReportWeek(name=name, starts_at=ends_at - timedelta(days=7), ends_at=ends_at)


@dataclass(frozen=True, slots=True)
class WeekCalendar:
    """The report weeks of one deployment: its time zone and cut-off."""

    zone: ZoneInfo
    weekday: int = FRIDAY
    cut_off: time = CUT_OFF
    # The week of each hour (seconds since the epoch // 3600) that lies wholly inside one week. The fold
    # names the week of every event, and the time zone's arithmetic was a tenth of its CPU.
    _hours: dict[int, str] = field(default_factory=dict, init=False, compare=False, repr=False)

    def week_of(self, moment: datetime) -> str:
        hour = int(moment.timestamp() // 3600)
        known = self._hours.get(hour)
        if known is not None:
            return known
        name = self._week(moment)
        # An hour that holds no cut-off is in one week from its first instant to its last: a week is an interval.
        first = datetime.fromtimestamp(hour * 3600, self.zone)
        last = datetime.fromtimestamp(hour * 3600 + 3599.999999, self.zone)
        if self._week(first) == name == self._week(last):
            if len(self._hours) >= HOURS_KEPT:
                self._hours.clear()
            self._hours[hour] = name
        return name

    def _week(self, moment: datetime) -> str:
        return report_week_of(moment, self.zone, weekday=self.weekday, cut_off=self.cut_off)

    def bounds(self, name: str) -> ReportWeek:
        return report_week(name, self.zone, weekday=self.weekday, cut_off=self.cut_off)

    def next_cut_off(self, moment: datetime) -> datetime:
        """The first cut-off strictly after `moment`."""
        return self.bounds(self.week_of(moment)).ends_at

    def weeks_up_to(self, name: str, count: int) -> list[str]:
        """`count` week names ending with `name`, oldest first (for trends); fewer in the calendar's first weeks,
        which have no weeks before them."""
        ends_at = self.bounds(name).ends_at
        days = (ends_at - timedelta(days=7 * back + 1) for back in reversed(range(count)))
        return [self.week_of(day) for day in days if day.year >= FIRST_YEAR]
