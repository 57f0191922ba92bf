"""The shared contracts state the limits of what the stores take, and the doors refuse what exceeds them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.notification.domain.feedback import feedback_problems
from shared.events import FeedbackResult, NoticeAnswered, NoticePerson
from shared.events.feedback import correction_problems


def answer(corrections: dict[str, str]) -> NoticeAnswered:
    return NoticeAnswered(
        notice_id=str(uuid.uuid4()),
        record_id=str(uuid.uuid4()),
        result=FeedbackResult.CORRECTED,
        corrections=corrections,
        answered_by="440111008",
        answered_at=datetime.now(UTC),
    )


@pytest.mark.parametrize(
    "corrections",
    [
        {"name": "王" * 51},  # routing's cases.name is VARCHAR(50): this once looped for ever
        {"name": "   "},
        {"residence_address": "路" * 201},
        {"registration_address": "路" * 201},
        {"residence_street": "44011100"},
        {"residence_street": "٤٤٠١١١٠٠٨"},  # Arabic-Indic digits are not a street code
        {"registration_division": "4401110"},
        {"certificate_number": "x"},
    ],
)
def test_a_correction_beyond_its_column_is_refused_by_the_contract(corrections: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        answer(corrections)
    (field, message), *_ = correction_problems(corrections)
    assert field in corrections
    assert all(value not in message for value in corrections.values())  # never echoes the value


def test_corrections_at_their_limits_pass() -> None:
    limits = {
        "name": "王" * 50,
        "residence_address": "路" * 200,
        "registration_address": "",
        "residence_street": "440111008",
        "registration_division": "440106",
    }
    assert answer(limits).corrections == limits


def test_notifications_door_points_at_the_over_long_field() -> None:
    problems = feedback_problems(result=FeedbackResult.CORRECTED, corrections={"name": "王" * 51}, reason=None)
    assert problems == [(("corrections", "name"), "must be 1-50 characters, not blank")]


@pytest.mark.parametrize("person", [{"name": "王" * 51}, {"id_number": "4" * 19}, {"residence_address": "路" * 201}])
def test_a_notice_person_is_bounded_like_routings_case(person: dict[str, Any]) -> None:
    fields = {"name": "王五", "id_number": "430102199003070124", "residence_address": "新市路 1 号"} | person
    with pytest.raises(ValidationError):
        NoticePerson(**fields)
