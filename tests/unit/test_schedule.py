"""Reminders after N working days, escalation after 2N: weekends and holidays do not count."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.routing.domain.schedule import follow_up, latest_issue_day_due, working_days_after
from shared.events import NoticeKind

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
    ("today", "reminded", "escalated", "expected"),
    [
        (date(2027, 3, 2), False, False, None),  # Tuesday: 2 working days
        (date(2027, 3, 3), False, False, NoticeKind.REMINDER),  # Wednesday: 3
        (date(2027, 3, 3), True, False, None),  # reminded once only
        (date(2027, 3, 7), True, False, None),  # Sunday: 5
        (date(2027, 3, 8), True, False, NoticeKind.ESCALATION),  # Monday: 6 = 2N
        (date(2027, 3, 8), False, False, NoticeKind.ESCALATION),  # overdue twice: escalate at once
        (date(2027, 3, 8), True, True, None),  # escalated once only
    ],
)
def test_follow_up_of_a_notice_issued_on_friday(
    today: date, reminded: bool, escalated: bool, expected: NoticeKind | None
) -> None:
    kind = follow_up(
        issued_on=FRIDAY, today=today, deadline_days=3, holidays=(), reminded=reminded, escalated=escalated
    )
    assert kind is expected


def test_a_holiday_postpones_the_reminder() -> None:
    def kind_on(day: date) -> NoticeKind | None:
        return follow_up(
            issued_on=FRIDAY, today=day, deadline_days=3, holidays=HOLIDAYS, reminded=False, escalated=False
        )

    assert kind_on(date(2027, 3, 3)) is None
    assert kind_on(date(2027, 3, 4)) is NoticeKind.REMINDER


@pytest.mark.parametrize("days", [1, 3, 5])
def test_the_cutoff_day_agrees_with_counting(days: int) -> None:
    start = SPRING_FESTIVAL_EVE
    for offset in range(40):
        today = start + timedelta(days=offset)
        cutoff = latest_issue_day_due(today, days, HOLIDAYS)
        for back in range(30):
            issued = today - timedelta(days=back)
            assert (working_days_after(issued, today, HOLIDAYS) >= days) == (issued <= cutoff), (today, issued)
