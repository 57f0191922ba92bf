"""Identity-number rules beyond its shape: a birth date in the past, the sex digit.

The check digit and a real birth date are part of the record's shape
(shared.events.records); these need today's date or a second field.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from services.intake.domain.fields import FieldProblem, text_at
from shared.identity import birth_date_of, has_valid_check_digit, sex_of

ID_NUMBER = ("person", "id_number")
SEX = ("person", "sex")


def birth_date(raw: Any) -> date | None:
    """The birth date in the record's identity number when its check digit is right; None otherwise (the
    shape check reports a wrong number, and no other field is measured against it)."""
    number = _sound_number(raw)
    return None if number is None else birth_date_of(number)


def identity_problems(raw: Any, today: date) -> list[FieldProblem]:
    number = _sound_number(raw)
    if number is None:
        return []
    problems: list[FieldProblem] = []
    born = birth_date_of(number)
    if born is not None and born > today:
        problems.append((ID_NUMBER, "the birth date in digits 7-14 lies in the future; re-read the card"))
    sex = text_at(raw, SEX)
    if sex in ("male", "female") and sex != sex_of(number):
        problems.append((SEX, f"does not agree with the identity number (digit 17 says {sex_of(number)})"))
    return problems


def _sound_number(raw: Any) -> str | None:
    number = text_at(raw, ID_NUMBER)
    return number if number is not None and has_valid_check_digit(number.upper()) else None
