"""Intake's record and case ids: random version-4 UUIDs in canonical text."""

from __future__ import annotations

import uuid

from services.intake.adapters.ids import new_id


def test_ids_are_canonical_version_4_uuids_and_differ() -> None:
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text
