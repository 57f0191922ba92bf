"""Where a record must go: a decision over division codes, nothing else."""

from __future__ import annotations

from dataclasses import dataclass

from shared.directory.divisions import DivisionDirectory, DivisionLevel, district_of
from shared.events import Route


@dataclass(frozen=True, slots=True)
class NeedsReview:
    """A record routing cannot decide: which field, and why, for the bureau's review queue."""

    field: str
    reason: str
    kind: str = "unknown"  # "retired" when the code was in an earlier edition (domain/succession.py)


def decide_route(*, reporting_street: str, residence_street: str) -> Route:
    """same-district when the person lives in the reporting street, cross-street
    when in another street of the same district, inter-district otherwise.

    (The name `same-district` is the census's own: the record stays where it
    was reported.)
    """
    if residence_street == reporting_street:
        return Route.SAME_DISTRICT
    if district_of(residence_street) == district_of(reporting_street):
        return Route.CROSS_STREET
    return Route.INTER_DISTRICT


def review_reason(
    directory: DivisionDirectory,
    *,
    reporting_street: str,
    residence_street: str,
    registration: str,
    residence_field: str = "residence.street",
) -> NeedsReview | None:
    """Why a record's codes cannot be routed, or None when every code is current.

    Run after domain/succession.py has mapped retired codes to their successors:
    what is left here was never a code of the directory (or is at the wrong level).
    """
    for field, code, level in (
        ("reporting_street", reporting_street, DivisionLevel.STREET),
        (residence_field, residence_street, DivisionLevel.STREET),
    ):
        if not directory.exists(code, level):
            return NeedsReview(field, f"{code} is not a current street code of the national directory")
    if not (
        directory.exists(registration, DivisionLevel.DISTRICT) or directory.exists(registration, DivisionLevel.STREET)
    ):
        return NeedsReview(
            "registration.division", f"{registration} is not a current district or street code of the directory"
        )
    return None
