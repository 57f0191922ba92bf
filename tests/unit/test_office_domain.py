"""The office page's pure rules: the inbox piles, the answer form, safe sheet cells, the week due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.notification.domain.office import read_answer_form, report_week_of, sections
from shared.events import FeedbackResult, RejectionReason
from shared.spreadsheets import neutralised

pytestmark = pytest.mark.unit
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class N:
    notice_id: str
    kind: str
    record_id: str
    answer_expected: bool = True
    answered_at: datetime | None = None


def test_notices_are_filed_new_reminded_answered_or_information() -> None:
    notices = [
        N("r", "reminder", "case-2", answer_expected=False),
        N("a", "transfer", "case-1"),
        N("b", "transfer", "case-2"),
        N("c", "transfer", "case-3", answered_at=datetime(2027, 2, 24, tzinfo=UTC)),
        N("d", "registration", "case-4", answer_expected=False),
    ]
    piles = sections(notices)
    ids = [[n.notice_id for n in pile] for pile in (piles.new, piles.reminded, piles.answered, piles.information)]
    assert ids == [["a"], ["b"], ["c"], ["d"]]
    assert [n.notice_id for n in piles.open] == ["b", "a"]


def test_the_answer_form_keeps_what_its_result_needs() -> None:
    corrected = read_answer_form(
        {"result": "corrected", "correct_residence_address": " 新市路 1 号 ", "correct_name": "", "reason": "duplicate"}
    )
    assert (corrected.result, corrected.corrections, corrected.reason) == (
        FeedbackResult.CORRECTED,
        {"residence_address": "新市路 1 号"},
        None,
    )
    rejected = read_answer_form({"result": "rejected", "reason": "wrong_recipient", "correct_name": "x"})
    assert (rejected.corrections, rejected.reason) == ({}, RejectionReason.WRONG_RECIPIENT)
    assert read_answer_form({"result": "maybe"}).result is None


@pytest.mark.parametrize(
    ("value", "written"),
    [("=1+2", "'=1+2"), ("+86", "'+86"), ("-x", "'-x"), ("@a", "'@a"), ("张三", "张三"), (3, 3)],
)
def test_cells_that_a_spreadsheet_would_run_are_written_as_text(value: object, written: object) -> None:
    assert neutralised(value) == written


@pytest.mark.parametrize(
    ("moment", "week", "due"),
    [
        ("2027-02-24T15:00:00+08:00", "2027-W08", "2027-02-26T10:00:00+08:00"),  # Wednesday
        ("2027-02-26T09:59:00+08:00", "2027-W08", "2027-02-26T10:00:00+08:00"),  # Friday before the cut-off
        ("2027-02-26T10:00:00+08:00", "2027-W09", "2027-03-05T10:00:00+08:00"),  # at the cut-off: next week
    ],
)
def test_the_week_a_clerk_submits_and_its_due_time(moment: str, week: str, due: str) -> None:
    assert report_week_of(datetime.fromisoformat(moment), SHANGHAI) == (week, datetime.fromisoformat(due))
