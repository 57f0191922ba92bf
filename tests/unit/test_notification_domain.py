"""Notification's pure decisions: Standard Webhooks signature, retry schedule, access, cursors, feedback, status."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.notification.adapters.tables import utc
from services.notification.domain.access import may_see, recipient_prefix
from services.notification.domain.backoff import (
    BackoffPolicy,
    NextStep,
    Outcome,
    after_attempt,
    begun_anew,
    is_success,
)
from services.notification.domain.feedback import correction_code_problems, feedback_problems
from services.notification.domain.paging import InvalidCursor, Position, decode_cursor, encode_cursor
from services.notification.domain.payload import notice_document, webhook_body
from services.notification.domain.signing import key_of, secret_of, signature
from services.notification.domain.status import NoticeStatus, advanced
from services.notification.settings import NotificationSettings
from shared.auth import Principal, parse_scope
from shared.directory import load_directory
from shared.events import (
    Envelope,
    FeedbackResult,
    NoticeIssued,
    NoticeKind,
    RejectionReason,
    parse_event,
)
from tests.support.infra import TEST_KEYRING

NOW = datetime(2027, 2, 24, 2, 30, tzinfo=UTC)
POLICY = BackoffPolicy(base_s=1.0, cap_s=8.0, max_attempts=5)


def lowest(low: float, _high: float) -> float:
    return low


def highest(_low: float, high: float) -> float:
    return high


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    sent = signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body)
    assert sent == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_secret_round_trips_through_its_whsec_form() -> None:
    key = bytes(range(32))
    assert secret_of(key).startswith("whsec_")
    assert key_of(secret_of(key)) == key


@pytest.mark.parametrize(
    "secret",
    ["street-office-shared-secret", "whsec_not base64!", "whsec_" + "QUJD" * 2, "whsec_" + "QUJD" * 30],
)
def test_a_secret_that_is_not_a_standard_one_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="webhook secret"):
        key_of(secret)


@pytest.mark.parametrize(
    ("attempt", "shortest", "longest"),
    [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0), (4, 4.0, 8.0), (5, 4.0, 8.0), (9, 4.0, 8.0)],
)
def test_delay_doubles_up_to_the_cap_with_half_of_it_random(attempt: int, shortest: float, longest: float) -> None:
    assert POLICY.delay_after(attempt, lowest) == shortest
    assert POLICY.delay_after(attempt, highest) == longest


def test_the_backoff_is_capped_however_many_attempts_a_round_allows() -> None:
    """2.0 ** 1024 overflows: a round of more attempts than that raised at each failure, nothing was recorded, and
    the push came back at every lease's end, for ever."""
    policy = BackoffPolicy(base_s=5.0, cap_s=900.0, max_attempts=1000)
    assert policy.delay_after(1100, lowest) == 450.0
    assert policy.delay_after(1100, highest) == 900.0
    step = after_attempt(succeeded=False, attempt=999, policy=policy, now=NOW, uniform=highest)
    assert step.retry_at == NOW + timedelta(seconds=900)


def test_the_backoff_settings_are_bounded() -> None:
    """A cap or count past these made the schedule's arithmetic overflow (a timedelta of 1e300 seconds)."""
    for name, value in (("retry_cap_s", 1e300), ("retry_base_s", 1e9), ("retry_max_attempts", 10**6)):
        with pytest.raises(ValueError, match=name):
            NotificationSettings.model_validate({name: value})


def test_after_attempt_retries_until_the_last_attempt_then_fails() -> None:
    retry = after_attempt(succeeded=False, attempt=2, policy=POLICY, now=NOW, uniform=lowest)
    assert retry.outcome is Outcome.RETRY
    assert retry.retry_at == NOW + timedelta(seconds=1.0)
    last = after_attempt(succeeded=False, attempt=5, policy=POLICY, now=NOW, uniform=lowest)
    assert last.outcome is Outcome.FAILED
    assert after_attempt(succeeded=True, attempt=5, policy=POLICY, now=NOW, uniform=lowest).outcome is Outcome.DELIVERED


@pytest.mark.parametrize(
    ("step", "after"),
    [
        (NextStep(Outcome.FAILED), NextStep(Outcome.RETRY, NOW)),  # the old round's last: the new round's first is due
        (NextStep(Outcome.RETRY, NOW + timedelta(seconds=8)), NextStep(Outcome.RETRY, NOW)),
        (NextStep(Outcome.DELIVERED), NextStep(Outcome.DELIVERED)),
    ],
)
def test_an_attempt_during_which_a_new_round_began_leaves_its_first_push_due_unless_it_delivered(
    step: NextStep, after: NextStep
) -> None:
    assert begun_anew(step, now=NOW) == after


@pytest.mark.parametrize(
    ("status", "ok"), [(200, True), (204, True), (299, True), (301, False), (500, False), (None, False)]
)
def test_only_2xx_is_success(status: int | None, ok: bool) -> None:
    assert is_success(status) is ok


@pytest.mark.parametrize(
    ("scope", "recipient", "visible"),
    [
        ("street:440111008", "440111008", True),
        ("street:440111008", "440111005", False),
        ("street:440111008", "440111", False),
        ("district:440111", "440111008", True),
        ("district:440111", "440111", True),
        ("district:440111", "440106001", False),
        ("admin", "310115", True),
    ],
)
def test_who_sees_which_recipient(scope: str, recipient: str, visible: bool) -> None:
    assert may_see(Principal("k", parse_scope(scope)), recipient) is visible


def test_failed_deliveries_are_listed_within_the_callers_prefix() -> None:
    street, district, admin = (Principal("k", parse_scope(s)) for s in ("street:440111008", "district:440111", "admin"))
    assert [recipient_prefix(p) for p in (street, district, admin)] == ["440111008", "440111", ""]


def test_cursor_round_trips_and_rejects_garbage() -> None:
    position = Position(NOW, "7f0c1b9e-0000-4000-8000-000000000001")
    assert decode_cursor(encode_cursor(position)) == position
    for garbage in ("", "not-a-cursor", "W10", encode_cursor(position)[:-4]):
        with pytest.raises(InvalidCursor):
            decode_cursor(garbage)


@pytest.mark.parametrize(
    ("issued_at", "notice_id"),
    [
        ("0001-01-01T00:00:00+14:00", "7f0c1b9e-0000-4000-8000-000000000001"),  # before year 1 in UTC
        ("2027-03-01T10:00:00", "7f0c1b9e-0000-4000-8000-000000000001"),  # no zone
        ("2027-03-01T10:00:00+08:00", "7f0c1b9e\u0000"),  # a NUL, which PostgreSQL's text refuses
        ("2027-03-01T10:00:00+08:00", "x" * 37),  # longer than any notice id
        ("2027-03-01T10:00:00+08:00", ""),
    ],
)
def test_a_forged_cursor_the_database_would_refuse_is_refused_here(issued_at: str, notice_id: str) -> None:
    """Taken, it reached PostgreSQL and came back a data error: a 422 and an error line, not the 400 it is."""
    forged = base64.urlsafe_b64encode(f'["{issued_at}", "{notice_id}"]'.encode()).decode()
    with pytest.raises(InvalidCursor):
        decode_cursor(forged)


@pytest.mark.parametrize(
    ("result", "corrections", "reason", "pointers"),
    [
        (FeedbackResult.CONFIRMED, {}, None, []),
        (FeedbackResult.NOT_FOUND, {}, None, []),
        (FeedbackResult.CORRECTED, {"residence_address": "x"}, None, []),
        (FeedbackResult.CORRECTED, {"shoe_size": "42"}, None, [("corrections", "shoe_size")]),
        (FeedbackResult.CORRECTED, {}, None, [("corrections",)]),
        (FeedbackResult.REJECTED, {}, RejectionReason.PERSON_LEFT, []),
        (FeedbackResult.REJECTED, {}, None, [("reason",)]),
        (FeedbackResult.CONFIRMED, {"name": "x"}, RejectionReason.DUPLICATE, [("corrections",), ("reason",)]),
    ],
)
def test_feedback_rules(
    result: FeedbackResult, corrections: dict[str, object], reason: RejectionReason | None, pointers: list[tuple[str]]
) -> None:
    assert [loc for loc, _ in feedback_problems(result=result, corrections=corrections, reason=reason)] == pointers


@pytest.mark.parametrize(
    ("corrections", "pointers"),
    [
        ({"residence_street": "440111008", "registration_division": "430102"}, []),
        ({"registration_division": "440111005", "name": "李四"}, []),
        ({"residence_street": "440111999"}, [("corrections", "residence_street")]),
        ({"residence_street": "440111"}, [("corrections", "residence_street")]),
        ({"registration_division": "4301"}, [("corrections", "registration_division")]),
    ],
)
def test_corrected_codes_must_be_current(corrections: dict[str, object], pointers: list[tuple[str, str]]) -> None:
    assert [loc for loc, _ in correction_code_problems(corrections, load_directory())] == pointers


@pytest.mark.parametrize(
    ("current", "to", "after"),
    [
        (NoticeStatus.ISSUED, NoticeStatus.DELIVERED, NoticeStatus.DELIVERED),
        (NoticeStatus.ISSUED, NoticeStatus.FAILED, NoticeStatus.FAILED),
        (NoticeStatus.FAILED, NoticeStatus.ISSUED, NoticeStatus.ISSUED),
        (NoticeStatus.FAILED, NoticeStatus.DELIVERED, NoticeStatus.DELIVERED),
        (NoticeStatus.FAILED, NoticeStatus.ACKNOWLEDGED, NoticeStatus.ACKNOWLEDGED),
        (NoticeStatus.ACKNOWLEDGED, NoticeStatus.DELIVERED, NoticeStatus.ACKNOWLEDGED),
        (NoticeStatus.DELIVERED, NoticeStatus.FAILED, NoticeStatus.DELIVERED),
        (NoticeStatus.ANSWERED, NoticeStatus.ACKNOWLEDGED, NoticeStatus.ANSWERED),
    ],
)
def test_status_only_moves_forward(current: NoticeStatus, to: NoticeStatus, after: NoticeStatus) -> None:
    assert advanced(current, to) is after


def test_a_notice_document_carries_only_the_allow_listed_fields() -> None:
    person = {"name": "张三", "id_number": "x", "residence_address": "a", "certificate": {"number": "c"}, "phone": "1"}
    document = notice_document(
        notice_id="n",
        record_id="r",
        recipient_code="440111008",
        route="cross-street",
        kind="transfer",
        reason="why",
        person=person,
        issued_at=NOW,
        record_link="http://intake/v1/records/r",
        answer_expected=True,
        answer_due=NOW,
    )
    assert document["person"] == {"name": "张三", "id_number": "x", "residence_address": "a"}
    assert (document["answer_expected"], document["answer_due"]) == (True, NOW.isoformat())
    assert "certificate" not in webhook_body(document).decode()
    assert json.loads(webhook_body(document)) == {**document}


def test_the_webhook_body_is_compact_utf8_json_as_the_standard_library_writes_it() -> None:
    document = {
        "reason": 'lives "here"\n\tnow \u2028 é',
        "person": {"name": "赵六", "id_number": "44010619900101123X", "residence_address": "同德路 8 号"},
        "answer_expected": False,
        "answer_due": None,
    }
    assert webhook_body(document) == json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def test_notice_kind_defaults_to_transfer_before_notices_carried_one() -> None:
    v1_payload = {
        "notice_id": "n",
        "record_id": "r",
        "recipient_code": "440111008",
        "route": "cross-street",
        "reason": "why",
        "person": {"name": "张三", "id_number": "x", "residence_address": "a"},
        "issued_at": NOW.isoformat(),
    }
    v1 = Envelope(
        event_id=uuid.uuid4(),
        type="NoticeIssued",
        version=1,
        occurred_at=NOW,
        producer="routing",
        correlation_id="r",
        payload=v1_payload,
    )
    notice = parse_event(v1, TEST_KEYRING)  # upcast once NoticeIssued is at version 2
    assert isinstance(notice, NoticeIssued)
    assert notice.kind is NoticeKind.TRANSFER


def test_stored_and_handed_over_times_reach_the_recipient_in_utc() -> None:
    # a push handed over by the store carries the event's local time; a row read back from SQLite, naive UTC
    shanghai = datetime(2026, 12, 9, tzinfo=timezone(timedelta(hours=8)))
    assert utc(shanghai).isoformat() == "2026-12-08T16:00:00+00:00"
    assert utc(datetime(2026, 12, 8, 16)).isoformat() == "2026-12-08T16:00:00+00:00"
    assert utc(datetime(2026, 12, 8, 16, tzinfo=UTC)).isoformat() == "2026-12-08T16:00:00+00:00"
