"""Reading fields out of a raw (not yet validated) record, leniently.

The semantic rules run on the raw body, beside pydantic's shape checks, so
that one answer lists every bad field. A value that does not parse here is
left to the shape check, which reports it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

Location = tuple[str | int, ...]
FieldProblem = tuple[Location, str]


def value_at(raw: Any, location: Location) -> Any:
    """The value at `location`, or None when any step is missing or not an object.

    Text is read trimmed, as the record model keeps it: " 999999999" is checked as the
    street code it becomes (trimming only what a rule reads, not a copy of the whole body).
    """
    for part in location:
        if not isinstance(raw, dict):
            return None
        raw = raw.get(part)
    return raw.strip() if isinstance(raw, str) else raw


def date_at(raw: Any, location: Location) -> date | None:
    value = value_at(raw, location)
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def aware_datetime_at(raw: Any, location: Location) -> datetime | None:
    value = value_at(raw, location)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def text_at(raw: Any, location: Location) -> str | None:
    value = value_at(raw, location)
    return value if isinstance(value, str) else None
