"""What a batch of records to store is made of: each record, its outcome, and how its event is written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson

from services.intake.adapters.tables import KeyKind


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A validated record, ready to store; `person_sealed` is the person, encrypted."""

    record_id: str
    person_key: str
    reporting_street: str
    residence_street: str
    record: dict[str, Any]
    person_sealed: str
    received_at: datetime
    source_ref: str | None = None
    idempotency_key: str | None = None
    fingerprint: str | None = None
    key_kind: str = KeyKind.REQUEST  # the namespace of `idempotency_key`

    def __reduce__(self) -> tuple[type[NewRecord], tuple[Any, ...]]:
        # a bulk worker sends thousands: its fields as a tuple, where a frozen dataclass's own
        # pickling sets each field by name in Python (a fifth of a row's unpickling)
        return NewRecord, tuple(getattr(self, name) for name in self.__slots__)


@dataclass(frozen=True, slots=True)
class Stored:
    """What storing one record of a batch came to: accepted, or a duplicate or conflict of an earlier submission,
    with the record and case that answer for it. Apart from the service layer's Outcome, which is made from it,
    so that adapters import no use case."""

    status: Literal["accepted", "duplicate", "conflict"]
    record_id: str
    case_id: str | None
    case_version: int


# (record, case id, case version) -> (topic, sealed envelope) for the outbox: a dict, or its JSON already written
EventFor = Callable[[NewRecord, str, int], tuple[str, dict[str, Any] | orjson.Fragment]]
# record -> (topic, the envelope's JSON up to its case: everything before `CASE_AT`), see `with_case`
HeadFor = Callable[[NewRecord], tuple[str, bytes]]
