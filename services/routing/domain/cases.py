"""A case: one routed record, versioned as corrections arrive."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.events import CaseRecord, EventKind, Route
from shared.events.feedback import CORRECTABLE_FIELDS

FIRST_VERSION = 1  # a case as its record was routed; each correction adds one


class CaseStatus(StrEnum):
    OPEN = "open"  # a notice waits for the residence side's answer
    FILED = "filed"  # nothing to wait for (same street, change notices)
    CONFIRMED = "confirmed"
    CORRECTED = "corrected"
    NOT_FOUND = "not_found"
    REJECTED = "rejected"
    INFLOW_THEN_OUTFLOW = "inflow_then_outflow"


class InvalidAnswer(ValueError):
    """An answer that can never be applied to its case (unknown fields, a bad code)."""


def current_residence(record: CaseRecord) -> tuple[str, str]:
    """(street, address) where the person lives now: an outflow's new residence
    when its street is known, else the record's residence.

    An outflow's `residence` is the place the person left; routing onward
    reads the new one, so the new street hears of its newcomer.
    """
    moved = record.new_residence
    if record.event is EventKind.OUTFLOW and moved is not None and moved.street is not None:
        return moved.street, moved.address or ""
    return record.residence.street, record.residence.address


@dataclass(frozen=True, slots=True)
class Outflow:
    """Where an outflow's person left from (the record's residence) and went to, when its street is known."""

    left_street: str
    new_street: str | None = None


def outflow_of(record: CaseRecord) -> Outflow | None:
    """The outflow a record reports (None for other events); its codes as the record holds them."""
    if record.event is not EventKind.OUTFLOW:
        return None
    moved = record.new_residence
    return Outflow(record.residence.street, moved.street if moved is not None else None)


def refuse_uncorrectable(corrections: dict[str, str]) -> None:
    unknown = sorted(set(corrections) - CORRECTABLE_FIELDS)
    if unknown:
        correctable = ", ".join(sorted(CORRECTABLE_FIELDS))
        raise InvalidAnswer(f"cannot correct {', '.join(unknown)}; correctable: {correctable}")


@dataclass(frozen=True, slots=True)
class Case:
    record_id: str
    version: int
    status: CaseStatus
    event: EventKind
    route: Route
    reporting_street: str
    residence_street: str
    residence_address: str
    registration_division: str
    registration_address: str
    name: str
    id_number: str

    @classmethod
    def from_record(cls, record_id: str, record: CaseRecord, route: Route) -> Case:
        """The case of a record, living where the record says the person lives now
        (for an outflow: the new residence when its street is known)."""
        street, address = current_residence(record)
        return cls(
            record_id=record_id,
            version=FIRST_VERSION,
            status=CaseStatus.FILED,
            event=record.event,
            route=route,
            reporting_street=record.reporting_street,
            residence_street=street,
            residence_address=address,
            registration_division=record.registration.division,
            registration_address=record.registration.address,
            name=record.person.name,
            id_number=record.person.id_number,
        )

    def corrected(self, corrections: dict[str, str]) -> Case:
        """The next version with `corrections` applied; unknown fields are refused."""
        refuse_uncorrectable(corrections)
        changes: dict[str, Any] = dict(corrections)
        return dataclasses.replace(self, version=self.version + 1, status=CaseStatus.CORRECTED, **changes)

    def with_status(self, status: CaseStatus) -> Case:
        return dataclasses.replace(self, status=status)
