"""Identity-number rules beyond its shape: a birth date in the past, the sex digit; and no identity number where
it would be kept in clear.

The check digit and a real birth date are part of the record's shape
(shared.events.records); these need today's date or a second field.

The person is sealed wherever a record is kept or sent; two free-text fields are not, as no one's name or number
belongs in them: `external_id` (the source system's id, in the `source_ref` column and on records.submitted as
written) and the certificate's number. A police station's or a school's list keyed by the person's identity
number put it there, in clear, for every consumer of the topic: refused, naming the field and never the value.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from services.intake.domain.fields import FieldProblem, text_at
from shared.identity import birth_date_of, has_valid_check_digit, sex_of
from shared.logging import ID_NUMBER_LENGTH, ID_NUMBER_PATTERN

ID_NUMBER = ("person", "id_number")
SEX = ("person", "sex")
KEPT_IN_CLEAR = {
    ("external_id",): "holds an identity number, which this id would keep and send in clear; use your system's own "
    "record id",
    ("certificate", "number"): "holds an identity number, which this number would keep and send in clear; give the "
    "certificate's own number",
}


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


def clear_text_problems(raw: Any) -> list[FieldProblem]:
    """The fields kept in clear that hold an identity number (sound: its check character and birth date)."""
    return [
        (location, message)
        for location, message in KEPT_IN_CLEAR.items()
        if (text := text_at(raw, location)) is not None and holds_identity_number(text)
    ]


def holds_identity_number(text: str) -> bool:
    """Whether `text` holds a run of 17 digits and a check character that is an identity number."""
    if len(text) < ID_NUMBER_LENGTH:  # most ids are shorter: no pattern to run
        return False
    for found in ID_NUMBER_PATTERN.finditer(text):
        number = found.group().upper()
        if has_valid_check_digit(number) and birth_date_of(number) is not None:
            return True
    return False


def _sound_number(raw: Any) -> str | None:
    number = text_at(raw, ID_NUMBER)
    return number if number is not None and has_valid_check_digit(number.upper()) else None
