"""RecordSubmitted gained case_id and case_version in issue 3, with defaults, so it stays version 1;
every version written since (v2 and v3 sealing each part in its place, v4 one block) still parses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.events import Envelope, RecordSubmitted, envelope_json, parse_event
from shared.sealing import is_sealed
from tests.support.infra import TEST_KEYRING
from tests.support.records import full_record, record
from tests.support.sealed_events import per_path

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
    assert RecordSubmitted.VERSION == 4  # a version-1 payload (person in clear) is upcast
    assert parse_event(envelope) == event  # and needs no keyring: nothing in it is sealed


def _submitted() -> RecordSubmitted:
    body = full_record(sequence=31, name="周九")
    body["employer"] = {"name": "周九五金店", "credit_code": "92440111MA5ABCDE1X"}
    return RecordSubmitted.model_validate(
        {"record_id": "5b0e1c7e-0000-4000-8000-000000000031", "received_at": "2027-03-01T02:00:00Z", "record": body}
    )


def test_version_4_carries_the_employer_in_its_sealed_block_and_gives_it_back() -> None:
    """A shop named for its owner put a person's name on records.submitted in clear (version 2)."""
    event = _submitted()
    wire = envelope_json(event, producer="intake", correlation_id=event.record_id, keyring=TEST_KEYRING)

    assert wire["version"] == 4
    assert "周九" not in str(wire)
    assert "employer" not in wire["payload"]["record"]  # in the block, with the person and the addresses
    block = TEST_KEYRING.open(wire["payload"]["sealed"], context=f"RecordSubmitted/{wire['event_id']}/sealed")
    assert block["record.employer"] == {"name": "周九五金店", "credit_code": "92440111MA5ABCDE1X"}
    assert parse_event(Envelope.model_validate(wire), TEST_KEYRING) == event


def test_a_version_3_payload_with_each_part_sealed_in_its_place_still_parses() -> None:
    """Written before version 4 (an outbox row, a topic replayed): the employer sealed alone, in its place."""
    event = _submitted()
    envelope = per_path(event, 3)
    assert is_sealed(envelope.payload["record"]["employer"])
    assert parse_event(envelope, TEST_KEYRING) == event


def test_a_version_2_payload_with_its_employer_in_clear_still_parses() -> None:
    """Written before version 3 (an outbox row, a topic replayed): person and addresses sealed, employer not."""
    event = _submitted()
    envelope = per_path(event, 2)
    assert envelope.payload["record"]["employer"]["name"] == "周九五金店"  # in clear, as version 2 wrote it
    assert is_sealed(envelope.payload["record"]["person"])
    assert parse_event(envelope, TEST_KEYRING) == event
