"""Division codes must exist in the national directory at the level their field needs.

A code retired by a later edition (shared/directory/changes.py) is accepted
with a warning: the record is true to what the worker saw, and routing maps
the code to its successor (or sends it to the bureau's review queue). A code
in no edition is refused.
"""

from __future__ import annotations

from typing import Any

from services.intake.domain.fields import FieldProblem, Location, value_at
from shared.digits import ascii_digits
from shared.directory import CodeStatus, DivisionChanges, DivisionDirectory, DivisionLevel

STREET_FIELDS: tuple[Location, ...] = (("reporting_street",), ("residence", "street"), ("new_residence", "street"))
DIVISION_FIELDS: tuple[Location, ...] = (("registration", "division"), ("certificate", "issuing_division"))
COMMUNITY = ("residence", "community")


def _parts(locations: tuple[Location, ...]) -> dict[str, Any]:
    parts: dict[str, Any] = {}
    for first, *rest in locations:
        if rest:
            parts.setdefault(str(first), set()).add(rest[0])
        else:
            parts[str(first)] = True
    return parts


# what directory_problems reads, as locations and as pydantic's `include` for a record's dump
CODE_LOCATIONS: tuple[Location, ...] = (*STREET_FIELDS, *DIVISION_FIELDS, COMMUNITY)
CODE_PARTS = _parts(CODE_LOCATIONS)


def directory_problems(
    raw: Any, directory: DivisionDirectory, changes: DivisionChanges | None = None
) -> list[FieldProblem]:
    """Codes that are well-formed but unknown to every edition of the directory, or in the wrong place."""
    problems: list[FieldProblem] = []
    for location in STREET_FIELDS:
        code = value_at(raw, location)
        if _digits(code, 9) and not directory.exists(code, DivisionLevel.STREET) and not _retired(code, changes):
            problems.append((location, "is not a street code in the national directory"))
    for location in DIVISION_FIELDS:
        code = value_at(raw, location)
        if (_digits(code, 6) or _digits(code, 9)) and not directory.exists(code) and not _retired(code, changes):
            problems.append((location, "is not a district or street code in the national directory"))
    community, street = value_at(raw, COMMUNITY), value_at(raw, ("residence", "street"))
    known_street = _digits(street, 9) and directory.exists(street, DivisionLevel.STREET)
    if _digits(community, 12) and known_street and not community.startswith(street):
        problems.append((COMMUNITY, "does not lie in the residence street (its first 9 digits must be that street)"))
    return problems


def division_warnings(raw: Any, changes: DivisionChanges) -> list[dict[str, str]]:
    """One warning per retired code of an accepted record: which field, and what routing will do."""
    warnings = []
    for location in (*STREET_FIELDS, *DIVISION_FIELDS):
        code = value_at(raw, location)
        if not isinstance(code, str) or changes.directory.exists(code):
            continue  # current: nothing to say (checked first, as nearly every code is)
        if (resolution := changes.resolve(code)).status is not CodeStatus.CURRENT:
            warnings.append({"field": ".".join(map(str, location)), "code": code, "note": resolution.note()})
    return warnings


def _retired(code: str, changes: DivisionChanges | None) -> bool:
    return changes is not None and changes.resolve(code).status is not CodeStatus.UNKNOWN


def _digits(value: Any, length: int) -> bool:
    return ascii_digits(value, length)
