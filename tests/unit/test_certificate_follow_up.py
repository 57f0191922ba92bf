"""Certificates followed up: which latest check needs following, in which order; sheets safe to open."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.intake.domain.consistency import consistency_problems
from services.reporting.domain.certificates import FollowUp, LatestCheck, follow_up_of, follow_ups
from shared.spreadsheets import neutralised

TODAY = date(2026, 3, 2)


def check(result: str, until: date | None, record_id: str = "r") -> LatestCheck:
    return LatestCheck(record_id, "440111005", result, until, TODAY)


@pytest.mark.parametrize(
    ("result", "until", "expected"),
    [
        ("missing", None, FollowUp.MISSING),
        ("invalid", TODAY + timedelta(days=900), FollowUp.INVALID),
        ("expired", TODAY - timedelta(days=1), FollowUp.EXPIRED),
        ("valid", TODAY - timedelta(days=1), FollowUp.EXPIRED),  # valid when checked, expired since
        ("valid", TODAY, FollowUp.EXPIRING),
        ("valid", TODAY + timedelta(days=30), FollowUp.EXPIRING),
        ("valid", TODAY + timedelta(days=31), None),
    ],
)
def test_a_latest_check_is_followed_up_when_missing_invalid_expired_or_expiring(
    result: str, until: date | None, expected: FollowUp | None
) -> None:
    assert follow_up_of(check(result, until), today=TODAY, within_days=30) is expected


def test_the_most_urgent_come_first_with_days_left() -> None:
    checks = [
        check("valid", TODAY + timedelta(days=5), "soon"),
        check("expired", TODAY - timedelta(days=3), "gone"),
        check("missing", None, "none"),
        check("valid", TODAY + timedelta(days=300), "fine"),
    ]
    items = follow_ups(checks, today=TODAY, within_days=30)
    assert [(i.record_id, i.days_left) for i in items] == [("none", None), ("gone", -3), ("soon", 5)]


@pytest.mark.parametrize(
    ("cell", "safe"),
    [("=1+1", "'=1+1"), ("+86", "'+86"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("张三", "张三"), (-2, -2)],
)
def test_text_a_spreadsheet_would_run_is_neutralised(cell: str | int, safe: str | int) -> None:
    assert neutralised(cell) == safe


def test_a_change_kind_belongs_to_a_change_record_and_a_certificate_change_carries_the_check() -> None:
    assert consistency_problems({"event": "change", "change": "certificate", "certificate": {"result": "valid"}}) == []
    assert [p for p, _ in consistency_problems({"event": "new_inflow", "change": "marriage"})] == [("change",)]
    assert [p for p, _ in consistency_problems({"event": "change", "change": "certificate"})] == [("certificate",)]
