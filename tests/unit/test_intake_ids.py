"""New record, case and event ids: version-7 UUIDs in canonical text, in the order they were made."""

from __future__ import annotations

import time
import uuid

from shared.events import RecordRejected, envelope_json
from shared.ids import new_id, new_uuid


def test_ids_are_canonical_version_7_uuids_and_differ() -> None:
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert str(parsed) == text
    assert new_uuid().version == 7


def test_an_id_begins_with_the_millisecond_it_was_made() -> None:
    before = time.time_ns() // 1_000_000
    made = uuid.UUID(new_id())
    after = time.time_ns() // 1_000_000
    assert before <= made.int >> 80 <= after


def test_ids_made_later_sort_later() -> None:
    first = [new_id() for _ in range(100)]
    time.sleep(0.002)  # the next millisecond at least
    second = [new_id() for _ in range(100)]
    assert max(first) < min(second)  # as text too: an index on the text column grows at its right edge


def test_an_envelope_without_a_given_event_id_gets_a_time_ordered_one() -> None:
    event = RecordRejected(reporting_street="440111002", rejected_at="2027-03-01T10:00:00+08:00", error_count=1)
    envelope = envelope_json(event, producer="intake", correlation_id="c-1")
    assert uuid.UUID(envelope["event_id"]).version == 7
    given = uuid.uuid5(uuid.NAMESPACE_URL, "replayed")
    assert envelope_json(event, producer="intake", correlation_id="c-1", event_id=given)["event_id"] == str(given)
