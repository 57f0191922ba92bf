"""A census campaign: its phases, its target population and the key areas it canvasses.

The target population is a setting of each campaign, not a constant: the
original plan's "married women aged 15-49 who came from elsewhere" is one
filter among many (sex, age, marital status, arrival date).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from services.reporting.domain.weeks import WeekCalendar


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True, slots=True)
class TargetPopulation:
    """Who the campaign looks for; an empty criterion accepts everyone."""

    sexes: frozenset[str] = field(default_factory=frozenset)
    min_age: int | None = None
    max_age: int | None = None
    marital_statuses: frozenset[str] = field(default_factory=frozenset)
    arrived_from: date | None = None
    arrived_to: date | None = None

    def birth_dates(self, on: date) -> tuple[date | None, date | None]:
        """(earliest, latest) birth date of someone within the age range on `on`, inclusive."""
        latest = _years_before(on, self.min_age) if self.min_age is not None else None
        earliest = None
        if self.max_age is not None:
            earliest = _years_before(on, self.max_age + 1) + timedelta(days=1)
        return earliest, latest

    def matches(
        self,
        *,
        sex: str | None,
        birth_date: date | None,
        marital_status: str | None,
        arrival_date: date | None,
        on: date,
    ) -> bool:
        """True when a record falls in the target population; unknown values never match a criterion."""
        if self.sexes and sex not in self.sexes:
            return False
        if self.marital_statuses and marital_status not in self.marital_statuses:
            return False
        earliest, latest = self.birth_dates(on)
        if (earliest or latest) and birth_date is None:
            return False
        if birth_date is not None and ((earliest and birth_date < earliest) or (latest and birth_date > latest)):
            return False
        if (self.arrived_from or self.arrived_to) and arrival_date is None:
            return False
        if arrival_date is not None and self.arrived_from and arrival_date < self.arrived_from:
            return False
        return not (arrival_date is not None and self.arrived_to and arrival_date > self.arrived_to)


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    starts_on: date
    ends_on: date


@dataclass(frozen=True, slots=True)
class Campaign:
    campaign_id: str
    name: str
    district: str
    phases: tuple[Phase, ...]
    target: TargetPopulation

    @property
    def starts_on(self) -> date:
        return min(phase.starts_on for phase in self.phases)

    @property
    def ends_on(self) -> date:
        return max(phase.ends_on for phase in self.phases)

    def runs_during(self, starts_at: datetime, ends_at: datetime) -> bool:
        """Whether a day of the campaign lies at least in part in [starts_at, ends_at) (local, the week's zone).
        The week's last day is the one its last instant falls on: with a cut-off at 00:00 that is the day before
        the cut-off's, and a campaign starting on the cut-off's day runs in the week after."""
        last_day = (ends_at - timedelta(microseconds=1)).date()
        return self.starts_on <= last_day and self.ends_on >= starts_at.date()


def week_of_day(day: date, calendar: WeekCalendar) -> str:
    """The report week a calendar day (a timetable date) belongs to: the week holding its noon."""
    return calendar.week_of(datetime.combine(day, time(12), tzinfo=calendar.zone))


def validate_phases(phases: list[Phase]) -> list[str]:
    """Problems with a campaign's phases, in words; empty when they are fine."""
    problems = [f"phase {p.name!r} ends before it starts" for p in phases if p.ends_on < p.starts_on]
    if not phases:
        problems.append("a campaign needs at least one phase")
    return problems
