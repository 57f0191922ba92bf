"""The review queue's rules: what an item keeps of its record, and how a corrected code applies. Pure."""

from __future__ import annotations

from typing import Any

from shared.directory.divisions import DivisionDirectory, DivisionLevel
from shared.events import CaseRecord
from shared.events.reviews import REVIEWABLE_FIELDS

# What routing reads of a record (cases.Case.from_record, routes.review_reason): the item keeps
# this much to route the record again, never its certificate, employer or phone.
ROUTING_FIELDS: dict[str, Any] = {
    "event": True,
    "person": {"id_number": True, "name": True},
    "reporting_street": True,
    "residence": {"street": True, "address": True},
    "registration": True,
    "observed_at": True,
    "new_residence": True,
}


class UncorrectableItem(ValueError):
    """A correction that can never apply: an item stored without its record, or a field it does not name."""


def kept_record(record: CaseRecord) -> dict[str, Any]:
    return record.model_dump(mode="json", include=ROUTING_FIELDS, exclude_none=True)


def correction_problem(directory: DivisionDirectory, *, field: str, code: str) -> str | None:
    """Why `code` cannot stand in `field`, or None when it is a current code of the right level."""
    if field not in REVIEWABLE_FIELDS:
        return f"{field} is not a field the review queue corrects"
    registration = field == "registration.division"
    levels = (DivisionLevel.DISTRICT, DivisionLevel.STREET) if registration else (DivisionLevel.STREET,)
    if not any(directory.exists(code, level) for level in levels):
        return f"{code} is not a current {' or '.join(level.value for level in levels)} code of the directory"
    return None


def corrected_record(kept: dict[str, Any] | None, *, field: str, code: str) -> CaseRecord:
    """The item's record with `field` (a dotted path such as residence.street) set to `code`."""
    if kept is None:
        raise UncorrectableItem("the item was queued before records were kept with it; dismiss it instead")
    if field not in REVIEWABLE_FIELDS:
        raise UncorrectableItem(f"{field} is not a field the review queue corrects")
    record = {name: dict(part) if isinstance(part, dict) else part for name, part in kept.items()}
    *parents, leaf = field.split(".")
    target = record
    for parent in parents:
        target = target.setdefault(parent, {})
    target[leaf] = code
    return CaseRecord.model_validate(record)
