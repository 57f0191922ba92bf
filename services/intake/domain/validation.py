"""Validation of a submitted case record, every problem at once.

Shapes (digits, lengths, the identity-number check digit, dates) come from
the pydantic model; that every code is a real division at the level its
field needs comes from the national directory. Both lists are merged so
that a clerk sees all that is wrong in one answer. Pure: the directory is
passed in.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from shared.directory import DivisionDirectory, DivisionLevel
from shared.events import CaseRecord

Location = tuple[str | int, ...]
FieldProblem = tuple[Location, str]

STREET_FIELDS: tuple[Location, ...] = (("reporting_street",), ("residence", "street"))
DIVISION_FIELDS: tuple[Location, ...] = (("registration", "division"),)


def validate_record(raw: Any, directory: DivisionDirectory) -> tuple[CaseRecord | None, list[FieldProblem]]:
    """The record, or None with every (location, message) problem found."""
    problems = directory_problems(raw, directory)
    try:
        record = CaseRecord.model_validate(raw)
    except ValidationError as error:
        flagged = {location for location, _ in problems}
        shape = [(tuple(e["loc"]), e["type"], e["msg"]) for e in error.errors()]
        problems += [(loc, _message(kind, msg)) for loc, kind, msg in shape if loc not in flagged]
        return None, problems
    return (None, problems) if problems else (record, [])


def directory_problems(raw: Any, directory: DivisionDirectory) -> list[FieldProblem]:
    """Codes that are well-formed but unknown to the directory."""
    problems: list[FieldProblem] = []
    for location in STREET_FIELDS:
        code = _at(raw, location)
        if _digits(code, 9) and not directory.exists(code, DivisionLevel.STREET):
            problems.append((location, "is not a street code in the national directory"))
    for location in DIVISION_FIELDS:
        code = _at(raw, location)
        if (_digits(code, 6) or _digits(code, 9)) and not directory.exists(code):
            problems.append((location, "is not a district or street code in the national directory"))
    return problems


def _at(raw: Any, location: Location) -> Any:
    for part in location:
        if not isinstance(raw, dict):
            return None
        raw = raw.get(part)
    return raw


def _digits(value: Any, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and value.isdigit()


MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this record; remove it",
    "string_pattern_mismatch": "has the wrong format",
    "timezone_aware": "needs a time-zone offset, e.g. 2027-02-24T10:30:00+08:00",
    "enum": "is not one of the allowed values",
}


def _message(kind: str, pydantic_message: str) -> str:
    # pydantic's messages carry no input values; ours are plainer where we have one
    return MESSAGES.get(kind, pydantic_message.removeprefix("Value error, "))
