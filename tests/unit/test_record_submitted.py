"""RecordSubmitted gained case_id and case_version in issue 3, with defaults, so it stays version 1."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.events import Envelope, RecordSubmitted, parse_event
from tests.support.infra import TEST_KEYRING
from tests.support.records import record

# A payload as the walking skeleton published it (before cases, before the full record).
SKELETON_PAYLOAD = {
    "record_id": "5b0e1c7e-0000-4000-8000-000000000001",
    "received_at": "2026-02-25T02:31:00Z",
    "record": record(),
}


def test_a_skeleton_payload_still_parses() -> None:
    envelope = Envelope(
        event_id=uuid.uuid4(),
        type="RecordSubmitted",
        version=1,
        occurred_at=datetime(2026, 2, 25, 2, 31, tzinfo=UTC),
        producer="intake",
        correlation_id=SKELETON_PAYLOAD["record_id"],
        payload=SKELETON_PAYLOAD,
    )
    event = parse_event(envelope, TEST_KEYRING)
    assert isinstance(event, RecordSubmitted)
    assert (event.case_id, event.case_version) == (None, 1)
    assert event.record.certificate is None
    assert event.record.person.sex is None
    assert RecordSubmitted.VERSION == 2  # a version-1 payload (person in clear) is upcast
    assert parse_event(envelope) == event  # and needs no keyring: nothing in it is sealed
