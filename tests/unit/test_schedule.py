"""Reminders after N working days, escalation after 2N: weekends and holidays do not count."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.routing.domain.schedule import latest_issue_day_due, working_days_after

FRIDAY = date(2027, 2, 26)
SPRING_FESTIVAL_EVE = date(2027, 2, 5)  # a Friday
HOLIDAYS = frozenset({date(2027, 3, 3)})  # a Wednesday, as configured


def test_weekends_do_not_count() -> None:
    assert working_days_after(FRIDAY, FRIDAY + timedelta(days=2), ()) == 0  # Saturday, Sunday
    assert working_days_after(FRIDAY, FRIDAY + timedelta(days=3), ()) == 1  # Monday


def test_holidays_do_not_count() -> None:
    assert working_days_after(FRIDAY, date(2027, 3, 4), ()) == 4
    assert working_days_after(FRIDAY, date(2027, 3, 4), HOLIDAYS) == 3


@pytest.mark.parametrize(
    ("today", "working_days", "due"),
    [
        (date(2027, 3, 2), 3, False),  # Tuesday: 2 working days
        (date(2027, 3, 3), 3, True),  # Wednesday: 3, the reminder is due
        (date(2027, 3, 7), 6, False),  # Sunday: 5
        (date(2027, 3, 8), 6, True),  # Monday: 6 = 2N, the escalation is due
    ],
)
def test_a_notice_issued_on_friday_is_due_after_n_then_2n_working_days(
    today: date, working_days: int, due: bool
) -> None:
    assert (latest_issue_day_due(today, working_days, ()) >= FRIDAY) is due


def test_a_holiday_postpones_the_reminder() -> None:
    assert latest_issue_day_due(date(2027, 3, 3), 3, HOLIDAYS) < FRIDAY
    assert latest_issue_day_due(date(2027, 3, 4), 3, HOLIDAYS) >= FRIDAY


@pytest.mark.parametrize("days", [1, 3, 5])
def test_the_cutoff_day_agrees_with_counting(days: int) -> None:
    start = SPRING_FESTIVAL_EVE
    for offset in range(40):
        today = start + timedelta(days=offset)
        cutoff = latest_issue_day_due(today, days, HOLIDAYS)
        for back in range(30):
            issued = today - timedelta(days=back)
            assert (working_days_after(issued, today, HOLIDAYS) >= days) == (issued <= cutoff), (today, issued)
