"""When an unanswered notice is reminded, and when it is escalated to the bureau.

Working days are Monday to Friday minus the configured holidays. A notice
issued on day D is overdue once N working days after D have begun: a notice
issued on a Friday with N=3 is reminded on Wednesday.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta

SATURDAY = 5


def is_working_day(day: date, holidays: Collection[date]) -> bool:
    return day.weekday() < SATURDAY and day not in holidays


def working_days_after(start: date, end: date, holidays: Collection[date]) -> int:
    """Working days in (start, end]: 0 when end is not after start."""
    count, day = 0, start + timedelta(days=1)
    while day <= end:
        count += is_working_day(day, holidays)
        day += timedelta(days=1)
    return count


def latest_issue_day_due(today: date, working_days: int, holidays: Collection[date]) -> date:
    """The last issue day whose notices have waited `working_days` by `today`:
    every notice issued on it or earlier is due, every later one is not."""
    counted, day = 0, today
    while counted < working_days:
        counted += is_working_day(day, holidays)
        day -= timedelta(days=1)
    return day
