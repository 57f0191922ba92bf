"""The certificate check result must agree with the certificate's dates and number.

- valid:   a number and a valid_until on or after the day it was checked
- expired: a valid_until before the day it was checked
- missing: no number (there was no certificate to read)
- invalid: anything (forged, wrong person, unreadable)
"""

from __future__ import annotations

from typing import Any

from services.intake.domain.fields import FieldProblem, date_at, text_at

RESULT = ("certificate", "result")
NUMBER = ("certificate", "number")
VALID_UNTIL = ("certificate", "valid_until")
CHECKED_ON = ("certificate", "checked_on")


def certificate_problems(raw: Any) -> list[FieldProblem]:
    result = text_at(raw, RESULT)
    number = text_at(raw, NUMBER)
    valid_until, checked = date_at(raw, VALID_UNTIL), date_at(raw, CHECKED_ON)
    if result == "valid":
        if not number:
            return [(NUMBER, "is required when the result is 'valid'")]
        if valid_until is None:
            return [(VALID_UNTIL, "is required when the result is 'valid'")]
        if checked is not None and valid_until < checked:
            return [(RESULT, "says 'valid' but the certificate had expired when checked (valid_until < checked_on)")]
    if result == "expired":
        if valid_until is None:
            return [(VALID_UNTIL, "is required when the result is 'expired'")]
        if checked is not None and valid_until >= checked:
            return [(RESULT, "says 'expired' but valid_until is on or after checked_on")]
    if result == "missing" and number:
        return [(NUMBER, "must be empty when the result is 'missing'")]
    return []
