"""Validation of a submitted case record, every problem at once.

Shapes (digits, lengths, allowed values, the identity-number check digit)
come from the pydantic model in shared/; the rules that need the directory,
the clock or a second field come from the small modules beside this one.
All lists are merged, one message per field, so that a clerk sees all that
is wrong in one answer. Pure: the directory and the time are passed in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from services.intake.domain.certificate import certificate_problems
from services.intake.domain.codes import CODE_LOCATIONS, CODE_PARTS, directory_problems
from services.intake.domain.consistency import consistency_problems, control_character_problems
from services.intake.domain.credit_code import credit_code_problems
from services.intake.domain.dates import date_order_problems
from services.intake.domain.fields import FieldProblem, Location, value_at
from services.intake.domain.identity import clear_text_problems, identity_problems
from shared.directory import DivisionChanges, DivisionDirectory
from shared.events import CaseRecord

__all__ = ["FieldProblem", "Location", "validate_record"]

CHINA = ZoneInfo("Asia/Shanghai")  # POPFLOW_TIMEZONE's default


def validate_record(
    raw: Any,
    directory: DivisionDirectory,
    *,
    now: datetime | None = None,
    zone: ZoneInfo = CHINA,
    changes: DivisionChanges | None = None,
) -> tuple[CaseRecord | None, list[FieldProblem]]:
    """The record, or None with every (location, message) problem found.

    Dates are measured against today in `zone` (the deployment's, POPFLOW_TIMEZONE), not in UTC.
    With `changes`, codes retired by a later edition are accepted (see codes.py)."""
    now = now or datetime.now(UTC)
    # The rules read what the model will keep: text trimmed as the model trims it (fields.value_at),
    # so " 999999999" is checked as the street code it becomes.
    today = now.astimezone(zone).date()
    problems = [
        *control_character_problems(raw),
        *directory_problems(raw, directory, changes),
        *identity_problems(raw, today),
        *clear_text_problems(raw),
        *date_order_problems(raw, now, zone, today=today),
        *certificate_problems(raw),
        *credit_code_problems(raw),
        *consistency_problems(raw),
    ]
    try:
        record = CaseRecord.model_validate(raw)
    except ValidationError as error:
        shape = [(tuple(e["loc"]), _message(e["type"], e["msg"])) for e in error.errors()]
        return None, _one_per_field([*problems, *shape])
    # and once more on the record itself: its codes are the ones stored and routed. When they are the
    # codes checked above (nearly always: the model trims as value_at does), the answer is the same.
    if _codes_changed(raw, record):
        problems += directory_problems(record.model_dump(mode="json", include=CODE_PARTS), directory, changes)
    return (None, _one_per_field(problems)) if problems else (record, [])


def _codes_changed(raw: Any, record: CaseRecord) -> bool:
    """Whether a code field the directory check reads (trimmed) differs from the record's."""
    for location in CODE_LOCATIONS:
        field: Any = record
        for part in location:
            field = getattr(field, str(part), None)
        if field != value_at(raw, location):
            return True
    return False


def _one_per_field(problems: list[FieldProblem]) -> list[FieldProblem]:
    seen: dict[Location, str] = {}
    for location, message in problems:
        seen.setdefault(location, message)
    return list(seen.items())


MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this record; remove it",
    "string_pattern_mismatch": "has the wrong format",
    "timezone_aware": "needs a time-zone offset, e.g. 2027-02-24T10:30:00+08:00",
    "enum": "is not one of the allowed values",
    "model_type": "must be an object with the documented fields",
    "model_attributes_type": "must be an object with the documented fields",
}


def _message(kind: str, pydantic_message: str) -> str:
    # pydantic's messages carry no input values; ours are plainer where we have one
    return MESSAGES.get(kind, pydantic_message.removeprefix("Value error, "))
