"""Data quality per street: what the bureau looks at beside the counts.

Every rate is a share between 0 and 1 (four decimals) with its numerator
and denominator beside it, or None when there is nothing to measure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.reporting.domain.facts import OPTIONAL_FIELDS

EXPIRY_WINDOW_DAYS = 30


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True, slots=True)
class QualityCounts:
    """Raw counts for one street (or a district), gathered by the store."""

    records: int = 0
    missing_any: int = 0
    missing_by_field: Mapping[str, int] = field(default_factory=dict)
    certificates_expiring: int = 0
    persons: int = 0
    persons_seen_again: int = 0
    notices_due: int = 0
    notices_answered_in_time: int = 0


def missing_fields(mask: int) -> list[str]:
    """The optional fields a record's `missing_mask` says were absent."""
    return [name for bit, name in enumerate(OPTIONAL_FIELDS) if mask & (1 << bit)]


def quality_report(counts: QualityCounts) -> dict[str, object]:
    return {
        "records": counts.records,
        "missing_optional": {
            "count": counts.missing_any,
            "share": share(counts.missing_any, counts.records),
            "by_field": {name: share(counts.missing_by_field.get(name, 0), counts.records) for name in OPTIONAL_FIELDS},
        },
        "certificates_expiring_30_days": counts.certificates_expiring,
        "persons_seen_more_than_once": {
            "count": counts.persons_seen_again,
            "share": share(counts.persons_seen_again, counts.persons),
        },
        "notices_answered_within_target": {
            "count": counts.notices_answered_in_time,
            "due": counts.notices_due,
            "share": share(counts.notices_answered_in_time, counts.notices_due),
        },
    }
