"""When an unanswered notice is reminded, and when it is escalated to the bureau.

Working days are Monday to Friday minus the configured holidays. A notice
issued on day D is overdue once N working days after D have begun: a notice
issued on a Friday with N=3 is reminded on Wednesday.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta

from shared.events import NoticeKind

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


def follow_up(
    *, issued_on: date, today: date, deadline_days: int, holidays: Collection[date], reminded: bool, escalated: bool
) -> NoticeKind | None:
    """REMINDER after `deadline_days` working days, ESCALATION after twice that,
    each once; None while nothing is due."""
    elapsed = working_days_after(issued_on, today, holidays)
    if elapsed >= 2 * deadline_days and not escalated:
        return NoticeKind.ESCALATION
    if elapsed >= deadline_days and not reminded and not escalated:
        return NoticeKind.REMINDER
    return None


def latest_issue_day_due(today: date, working_days: int, holidays: Collection[date]) -> date:
    """The last issue day whose notices have waited `working_days` by `today`:
    every notice issued on it or earlier is due, every later one is not."""
    counted, day = 0, today
    while counted < working_days:
        counted += is_working_day(day, holidays)
        day -= timedelta(days=1)
    return day
