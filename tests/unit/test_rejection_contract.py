"""RecordRejected: the contract intake publishes and reporting counts; no personal data in it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.events import RecordRejected, new_envelope, parse_event
from shared.topics import ALL_TOPICS, RECORDS_REJECTED
from tests.support.infra import TEST_KEYRING


def test_round_trip_through_the_envelope() -> None:
    event = RecordRejected(
        reporting_street="440111005",
        rejected_at=datetime(2027, 2, 24, tzinfo=UTC),
        error_count=2,
        source_kind="canvass",
    )
    envelope = new_envelope(event, producer="intake", correlation_id="rejected", keyring=TEST_KEYRING)
    assert parse_event(envelope, TEST_KEYRING) == event
    assert event.TOPIC == RECORDS_REJECTED
    assert RECORDS_REJECTED in ALL_TOPICS


def test_carries_nothing_about_the_person() -> None:
    with pytest.raises(ValidationError):
        RecordRejected.model_validate(
            {
                "reporting_street": "440111005",
                "rejected_at": "2027-02-24T00:00:00Z",
                "error_count": 1,
                "id_number": "430102199003070125",
            }
        )
    assert set(RecordRejected.model_fields) == {"reporting_street", "rejected_at", "error_count", "source_kind"}
