"""One Kafka key rule for NoticeAnswered, whichever service publishes it."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.events import FeedbackResult, NoticeAnswered
from shared.events.feedback import notice_answered_key

ANSWER = NoticeAnswered(
    notice_id="9a8b7c6d-5e4f-5a3b-9c2d-1e0f9a8b7c6d",
    record_id="5d1f2a3b-0c4d-4e5f-8a9b-0c1d2e3f4a5b",
    result=FeedbackResult.CONFIRMED,
    answered_by="440111008",
    answered_at=datetime(2027, 2, 24, tzinfo=UTC),
)


def test_an_answer_is_keyed_by_the_person_key_of_its_case() -> None:
    assert notice_answered_key(person_key="f00d", notice_id=ANSWER.notice_id) == "f00d"


def test_an_answer_whose_person_is_unknown_is_keyed_by_its_notice() -> None:
    assert notice_answered_key(person_key=None, notice_id=ANSWER.notice_id) == ANSWER.notice_id
