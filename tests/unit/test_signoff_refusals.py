"""Every refused sign-off step has a stable reason, and the dashboard has Chinese words for each (pure).

The dashboard showed none of them, and the API only an English sentence that the street office page had to
match with patterns; the reason is now a code (shared.signoff_refusals.Refusal) carried by the API's problem
document, and the words of the dashboard and the street office page are looked up by it (shared/signoff_refusals.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from services.reporting.domain.signoff import Decision, Signoff, SignoffRefused, SignoffState, review, submit
from services.reporting.entrypoints.http import SIGNOFF_REFUSED, as_problem
from services.reporting.service_layer.errors import Conflict
from shared.signoff_refusals import REFUSAL_WORDS, Refusal, known_refusal, refusal_in_chinese

AT = datetime(2027, 2, 26, 1, tzinfo=UTC)
OPENS = AT - timedelta(days=3)
HAN = re.compile(r"[\u4e00-\u9fff]")


def signoff(state: SignoffState) -> Signoff:
    return Signoff("440111005", "2027-W08", state, first_submitted_at=OPENS, submitted_at=OPENS, reviewed_at=AT)


def refused(step: Callable[[], Signoff]) -> Refusal:
    with pytest.raises(SignoffRefused) as caught:
        step()
    return caught.value.reason


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        (lambda: submit(None, street="440111005", week="2027-W08", at=OPENS, opens_at=AT), Refusal.WEEK_NOT_BEGUN),
        (
            lambda: submit(signoff(SignoffState.SUBMITTED), street="440111005", week="2027-W08", at=AT, opens_at=OPENS),
            Refusal.ALREADY_SUBMITTED,
        ),
        (
            lambda: submit(signoff(SignoffState.ACCEPTED), street="440111005", week="2027-W08", at=AT, opens_at=OPENS),
            Refusal.ALREADY_ACCEPTED,
        ),
        (lambda: review(None, decision=Decision.ACCEPT, comment="", at=AT), Refusal.NOT_SUBMITTED),
        (
            lambda: review(signoff(SignoffState.ACCEPTED), decision=Decision.ACCEPT, comment="", at=AT),
            Refusal.ALREADY_ACCEPTED,
        ),
        (
            lambda: review(signoff(SignoffState.RETURNED), decision=Decision.ACCEPT, comment="", at=AT),
            Refusal.ALREADY_RETURNED,
        ),
        (
            lambda: review(signoff(SignoffState.SUBMITTED), decision=Decision.RETURN, comment=" ", at=AT),
            Refusal.COMMENT_MISSING,
        ),
    ],
)
def test_each_refused_step_names_its_reason(step: Callable[[], Signoff], reason: Refusal) -> None:
    assert refused(step) is reason


def test_every_reason_has_chinese_words_and_nothing_else_has() -> None:
    assert set(REFUSAL_WORDS) == set(Refusal)
    for reason in Refusal:
        assert HAN.search(refusal_in_chinese(reason)), reason
    assert len(set(REFUSAL_WORDS.values())) == len(Refusal)  # each says its own thing


def test_the_api_keeps_the_english_detail_and_names_the_reason() -> None:
    problem = as_problem(Conflict("the report of 2027-W08 is already accepted", reason=Refusal.ALREADY_ACCEPTED))
    body = problem.response().body
    assert problem.status == 409
    assert problem.detail == "the report of 2027-W08 is already accepted"
    assert b'"type":"https://popflow.example/problems/signoff-refused"' in body
    assert b'"reason":"already_accepted"' in body
    assert SIGNOFF_REFUSED.endswith("/signoff-refused")
    # a conflict that is no sign-off refusal stays a plain one
    assert b'"type":"about:blank"' in as_problem(Conflict("a locked week")).response().body


@pytest.mark.parametrize(
    ("code", "known"), [("already_accepted", Refusal.ALREADY_ACCEPTED), ("nope", None), (None, None), (3, None)]
)
def test_a_problems_reason_member_is_taken_only_when_it_names_a_refusal(code: object, known: Refusal | None) -> None:
    assert known_refusal(code) is known
