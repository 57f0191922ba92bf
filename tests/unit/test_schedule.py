"""Reminders after N working days, escalation after 2N: weekends and holidays do not count."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.routing.domain.schedule import AnswerDeadlines, latest_issue_day_due, overdue_from, working_days_after

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


@pytest.mark.parametrize("days", [1, 3, 6])
def test_the_answer_due_day_is_the_first_day_the_reminder_job_finds_the_notice_due(days: int) -> None:
    for offset in range(30):
        issued = SPRING_FESTIVAL_EVE + timedelta(days=offset)
        overdue = overdue_from(issued, days, HOLIDAYS)
        assert latest_issue_day_due(overdue, days, HOLIDAYS) >= issued
        assert latest_issue_day_due(overdue - timedelta(days=1), days, HOLIDAYS) < issued


def test_an_answer_is_due_at_the_start_of_the_day_the_notice_is_reminded() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    deadlines = AnswerDeadlines(3, HOLIDAYS, shanghai)
    # issued Friday 26 February 23:30 in Shanghai (15:30 UTC): Mon, Tue, (Wed a holiday), Thu
    due = deadlines.due(datetime(2027, 2, 26, 15, 30, tzinfo=UTC))
    assert due == datetime(2027, 3, 4, tzinfo=shanghai)
