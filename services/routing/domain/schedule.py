"""When an unanswered notice is reminded, and when it is escalated to the bureau.

Working days are Monday to Friday minus the configured holidays. A notice
issued on day D is overdue once N working days after D have begun: a notice
issued on a Friday with N=3 is reminded on Wednesday.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

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


def overdue_from(issued_on: date, working_days: int, holidays: Collection[date]) -> date:
    """The day a notice issued on `issued_on` becomes overdue: the `working_days`-th
    working day after it (the first day latest_issue_day_due reaches it)."""
    counted, day = 0, issued_on
    while counted < working_days:
        day += timedelta(days=1)
        counted += is_working_day(day, holidays)
    return day


@dataclass(frozen=True, slots=True)
class AnswerDeadlines:
    """The deployment's answer deadline: N working days, its holidays, where its days begin."""

    working_days: int = 3
    holidays: frozenset[date] = field(default_factory=frozenset)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))

    def due(self, issued_at: datetime) -> datetime:
        """The moment an answer to a notice issued at `issued_at` is overdue (and reminded)."""
        return _due(self, issued_at.astimezone(self.zone).date())


@lru_cache(maxsize=64)
def _due(deadlines: AnswerDeadlines, issued_on: date) -> datetime:
    # remembered: a batch issues thousands of notices on the same day
    day = overdue_from(issued_on, deadlines.working_days, deadlines.holidays)
    return datetime.combine(day, time(), tzinfo=deadlines.zone)
