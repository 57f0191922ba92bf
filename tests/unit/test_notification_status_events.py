"""Notification's status events: one deterministic id each, and one person's events on one key."""

from __future__ import annotations

from datetime import UTC, datetime

from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.tables import InboxNotice
from shared.events import FeedbackResult
from shared.events.feedback import notice_answered_key
from shared.identity import person_key
from tests.support.infra import TEST_KEYRING
from tests.support.records import id_number

SECRET = b"test-person-key-secret"
AT = datetime(2027, 2, 24, 2, 30, tzinfo=UTC)
NOTICE_ID = "00000000-0000-4000-8000-000000000001"
PERSON = {"name": "张三", "id_number": id_number(sequence=1), "residence_address": "同德路 8 号"}
SEALED = SealedNotices(TEST_KEYRING)


def _notice() -> InboxNotice:
    return InboxNotice(
        notice_id=NOTICE_ID,
        recipient_code="440111008",
        record_id="10000000-0000-4000-8000-000000000001",
        route="cross-street",
        kind="transfer",
        reason="why",
        person_sealed=SEALED.seal_person(NOTICE_ID, PERSON),
        issued_at=AT,
        received_at=AT,
    )


def test_an_answer_is_keyed_by_the_shared_rule_like_the_persons_other_events() -> None:
    events, notice = StatusEvents(SECRET, SEALED), _notice()
    answered, _ = events.answered(
        notice, result=FeedbackResult.CONFIRMED, corrections={}, reason=None, note="", by="440111008", at=AT
    )
    acknowledged = events.acknowledged(notice, by="440111008", at=AT)
    the_person = person_key(PERSON["id_number"], SECRET)
    assert answered.key == notice_answered_key(person_key=the_person, notice_id=notice.notice_id) == the_person
    assert acknowledged.key == answered.key


def test_an_answer_whose_person_is_unknown_is_keyed_by_its_notice() -> None:
    assert notice_answered_key(person_key=None, notice_id="n-1") == "n-1"
    assert notice_answered_key(person_key="pk", notice_id="n-1") == "pk"


def test_a_delivery_is_keyed_by_the_person_key_kept_on_the_row_without_opening_the_person() -> None:
    events, notice = StatusEvents(SECRET, SEALED), _notice()
    the_person = person_key(PERSON["id_number"], SECRET)
    assert events.delivered(notice, attempts=1, at=AT)["key"] == the_person  # stored before keys were kept
    notice.person_key, notice.person_sealed = the_person, "not a sealed value"
    row = events.delivered(notice, attempts=2, at=AT)
    assert row["key"] == the_person
    assert row["envelope"]["type"] == "NoticeDelivered"
    assert events.key_of(PERSON["id_number"]) == the_person
