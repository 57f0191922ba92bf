"""A stored notice becomes the recipient's document: its link opens our record, and a partner's notice has none."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import httpx

from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.tables import NoticeValues
from services.notification.service_layer.documents import document_of
from shared.catalogue.documents import WebhookNotice
from shared.notice_grants import granted_to
from tests.support.infra import TEST_KEYRING

SEALED = SealedNotices(TEST_KEYRING)
PERSON = {"name": "张三", "id_number": "11010519491231002X", "residence_address": "五山路 1 号"}
NOTICE = NoticeValues(
    notice_id="6b0c0000-0000-4000-8000-000000000001",
    recipient_code="440106008",
    record_id="0f3e0000-0000-4000-8000-000000000001",
    route="inter-district",
    kind="transfer",
    reason="person lives in your street; please verify",
    person_sealed=SEALED.seal_person("6b0c0000-0000-4000-8000-000000000001", PERSON),
    person_key=None,
    issued_at=datetime(2027, 3, 1, 2, 0, tzinfo=UTC),
    answer_expected=True,
    answer_due=datetime(2027, 3, 4, 16, 0, tzinfo=UTC),
    from_partner=False,
)


def test_our_notice_links_to_our_record_with_a_grant_for_its_recipient() -> None:
    document = document_of(NOTICE, "http://intake/v1/records/", SEALED)
    link = httpx.URL(document["record_link"])
    assert str(link.copy_with(query=None)) == f"http://intake/v1/records/{NOTICE.record_id}"
    assert link.params["notice"] == NOTICE.notice_id
    granted = granted_to(TEST_KEYRING, link.params["grant"], notice_id=NOTICE.notice_id, record_id=NOTICE.record_id)
    assert granted == NOTICE.recipient_code
    assert document["person"] == PERSON
    WebhookNotice.model_validate(document)  # what the committed schema promises integrators


def test_a_partners_notice_has_no_link_since_its_record_is_kept_by_the_partner() -> None:
    document = document_of(dataclasses.replace(NOTICE, from_partner=True), "http://intake/v1/records/", SEALED)
    assert document["record_link"] is None
    assert document["record_id"] == NOTICE.record_id  # what the partner calls it, for asking after it
    WebhookNotice.model_validate(document)
