"""Events as older producers sealed them, and a keyring that counts what it seals and opens.

`per_path` writes what a producer of an older version wrote before its class sealed its parts together:
each part sealed in its place, bound to the event id and the path (RecordSubmitted v2 and v3).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.events import Envelope, Event
from shared.events.envelope import changed_parts, sealed_paths
from shared.sealing import Keyring
from tests.support.infra import TEST_KEYRING


def per_path(event: Event, version: int, *, event_id: uuid.UUID | None = None) -> Envelope:
    """`event` as its producer of `version` wrote it: the parts that version seals, each sealed in its place."""
    event_id = event_id or uuid.uuid4()
    prefix = f"{event.TYPE}/{event_id}/"
    payload = changed_parts(
        event.model_dump(mode="json"),
        sealed_paths(type(event), version),
        lambda value, path: TEST_KEYRING.seal(value, context=prefix + path),
    )
    return Envelope(
        event_id=event_id,
        type=event.TYPE,
        version=version,
        occurred_at=datetime(2027, 3, 1, 2, 0, tzinfo=UTC),
        producer="test",
        correlation_id="r1",
        payload=payload,
    )


@dataclass(frozen=True)
class CountingKeyring(Keyring):
    """TEST_KEYRING's keys, counting each seal and each opening by the start of its context (up to the
    first `/`: an event's type, or a record id for intake's stored person)."""

    sealed: Counter[str] = field(default_factory=Counter, compare=False)
    opened: Counter[str] = field(default_factory=Counter, compare=False)

    @classmethod
    def of_tests(cls) -> CountingKeyring:
        return cls(dict(TEST_KEYRING.keys), TEST_KEYRING.current)

    def seal_bytes(self, plain: bytes, *, context: str) -> str:
        self.sealed[context.split("/")[0]] += 1
        return super().seal_bytes(plain, context=context)

    def open_bytes(self, token: str, *, context: str) -> bytes:
        self.opened[context.split("/")[0]] += 1
        return super().open_bytes(token, context=context)
