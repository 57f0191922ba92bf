"""Retired division codes in a record, mapped to their successors before the route is decided.

A street that was merged or renumbered keeps appearing in records (workers
and department lists use the codes they know). Where the change table names
one successor, the record is routed as if it named that code, and a note
says so; a split (several successors) or a retirement with no known successor
is for a person, and goes to the review queue as "retired", told apart from
a code that was never in the directory ("unknown", see routes.review_reason).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from services.routing.domain.routes import NeedsReview
from services.routing.domain.workflow import Step
from shared.directory import CodeStatus, DivisionChanges
from shared.events import CaseRecord

RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class Succession:
    """The record with current codes, what was mapped, and what a person must decide."""

    record: CaseRecord
    notes: tuple[str, ...] = ()
    review: NeedsReview | None = None

    def note(self) -> str | None:
        return "; ".join(self.notes) or None


def to_current_codes(record: CaseRecord, changes: DivisionChanges) -> Succession:
    """Replace each retired code with its one successor; a split or a dead end is a review."""
    codes = {
        "reporting_street": record.reporting_street,
        "residence.street": record.residence.street,
        "registration.division": record.registration.division,
    }
    if record.new_residence is not None and record.new_residence.street:
        codes["new_residence.street"] = record.new_residence.street
    mapped: dict[str, str] = {}
    notes: list[str] = []
    for field, code in codes.items():
        resolution = changes.resolve(code)
        if resolution.status in (CodeStatus.SPLIT, CodeStatus.RETIRED):
            # the codes mapped so far stay mapped: the item waits in the queue of the district its reporting
            # street belongs to now (a retired street's is no bureau's), and keeps the record with them
            review = NeedsReview(field, resolution.note(), RETIRED)
            return Succession(_with_codes(record, mapped), tuple(notes), review=review)
        if resolution.successor is not None:
            mapped[field] = resolution.successor
            notes.append(f"{field} {resolution.note()}")
    return Succession(_with_codes(record, mapped), tuple(notes))


def noted(step: Step, note: str | None) -> Step:
    """The step with the mapping note added to each notice's reason, so the successor's office sees why."""
    if note is None:
        return step
    notices = [dataclasses.replace(n, reason=f"{n.reason} ({note})"[:300]) for n in step.notices]
    return dataclasses.replace(step, notices=notices)


def _with_codes(record: CaseRecord, mapped: dict[str, str]) -> CaseRecord:
    if not mapped:
        return record
    update: dict[str, object] = {}
    if "reporting_street" in mapped:
        update["reporting_street"] = mapped["reporting_street"]
    if "residence.street" in mapped:
        update["residence"] = record.residence.model_copy(update={"street": mapped["residence.street"]})
    if "registration.division" in mapped:
        update["registration"] = record.registration.model_copy(update={"division": mapped["registration.division"]})
    if "new_residence.street" in mapped and record.new_residence is not None:
        update["new_residence"] = record.new_residence.model_copy(update={"street": mapped["new_residence.street"]})
    return record.model_copy(update=update)
