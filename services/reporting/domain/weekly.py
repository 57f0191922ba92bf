"""The weekly report of a street, and the district roll-up of its streets. Pure assembly.

The store gathers counts per street with aggregated queries; this module
turns them into the report: the figures, the entry delay, the revision note
(a week changed after its cut-off) and the sign-off state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.reporting.domain.figures import FIGURE_NAMES, RECORD_ROUTES, DelaySummary, delay_summary, entry_delay
from services.reporting.domain.weeks import ReportWeek


@dataclass
class StreetWeek:
    """What the store found for one street (or, for bureau-addressed notices, the district)."""

    code: str
    figures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIGURE_NAMES, 0))
    routes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RECORD_ROUTES, 0))
    records: int = 0
    delays_s: list[float] = field(default_factory=list)
    delay: DelaySummary | None = None  # when the store summarised the delays itself
    late_at: datetime | None = None
    after_signoff: int = 0

    def absorb(self, other: StreetWeek) -> None:
        for name, value in other.figures.items():
            self.figures[name] += value
        for route, value in other.routes.items():
            self.routes[route] += value
        self.records += other.records
        self.delays_s.extend(other.delays_s)
        if other.late_at is not None and (self.late_at is None or other.late_at > self.late_at):
            self.late_at = other.late_at
        self.after_signoff += other.after_signoff


def revision(late_at: datetime | None) -> dict[str, Any]:
    """A week is revised when a fact counted in it arrived after its cut-off."""
    return {"revised": late_at is not None, "revised_at": late_at.isoformat() if late_at else None}


def street_report(week: ReportWeek, row: StreetWeek, *, name: str | None, as_of: datetime) -> dict[str, Any]:
    return {
        "scope": "street",
        "street": row.code,
        "code": row.code,
        "name": name,
        "week": week.name,
        "starts_at": week.starts_at.isoformat(),
        "ends_at": week.ends_at.isoformat(),
        "as_of": as_of.isoformat(),
        "records": row.records,
        "routes": dict(row.routes),
        "figures": dict(row.figures),
        "entry_delay": entry_delay(row.delay or delay_summary(row.delays_s)),
        "revision": revision(row.late_at),
    }


def district_report(
    week: ReportWeek,
    district: str,
    streets: Sequence[StreetWeek],
    bureau: StreetWeek,
    *,
    names: Mapping[str, str | None],
    as_of: datetime,
    total_delay: DelaySummary | None = None,
) -> dict[str, Any]:
    """The district's totals (its streets plus what was addressed to the bureau itself) and each street.

    Percentiles do not add up: when the store summarised the streets' delays,
    it passes the district's own summary as `total_delay`.
    """
    total = StreetWeek(code=district, delay=total_delay)
    for row in [*streets, bureau]:
        total.absorb(row)
    body = street_report(week, total, name=names.get(district), as_of=as_of)
    body.pop("street")
    body["scope"] = "district"
    body["district"] = district
    body["streets"] = [street_report(week, row, name=names.get(row.code), as_of=as_of) for row in streets]
    return body
