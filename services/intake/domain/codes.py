"""Division codes must exist in the national directory at the level their field needs."""

from __future__ import annotations

from typing import Any

from services.intake.domain.fields import FieldProblem, Location, value_at
from shared.digits import ascii_digits
from shared.directory import DivisionDirectory, DivisionLevel

STREET_FIELDS: tuple[Location, ...] = (("reporting_street",), ("residence", "street"), ("new_residence", "street"))
DIVISION_FIELDS: tuple[Location, ...] = (("registration", "division"), ("certificate", "issuing_division"))
COMMUNITY = ("residence", "community")


def directory_problems(raw: Any, directory: DivisionDirectory) -> list[FieldProblem]:
    """Codes that are well-formed but unknown to the directory, or in the wrong place."""
    problems: list[FieldProblem] = []
    for location in STREET_FIELDS:
        code = value_at(raw, location)
        if _digits(code, 9) and not directory.exists(code, DivisionLevel.STREET):
            problems.append((location, "is not a street code in the national directory"))
    for location in DIVISION_FIELDS:
        code = value_at(raw, location)
        if (_digits(code, 6) or _digits(code, 9)) and not directory.exists(code):
            problems.append((location, "is not a district or street code in the national directory"))
    community, street = value_at(raw, COMMUNITY), value_at(raw, ("residence", "street"))
    known_street = _digits(street, 9) and directory.exists(street, DivisionLevel.STREET)
    if _digits(community, 12) and known_street and not community.startswith(street):
        problems.append((COMMUNITY, "does not lie in the residence street (its first 9 digits must be that street)"))
    return problems


def _digits(value: Any, length: int) -> bool:
    return ascii_digits(value, length)
