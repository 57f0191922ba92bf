"""Dates that must come in order: arrival, observation, now; issue, validity, check."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from services.intake.domain.fields import FieldProblem, aware_datetime_at, date_at, text_at
from shared.identity import birth_date_of, has_valid_check_digit

# Field devices' clocks drift; an observation a little ahead of ours is still believable.
CLOCK_SKEW = timedelta(minutes=5)
OBSERVED_AT = ("observed_at",)
ARRIVED_ON = ("residence", "arrived_on")
ISSUED_ON = ("certificate", "issued_on")
VALID_UNTIL = ("certificate", "valid_until")
CHECKED_ON = ("certificate", "checked_on")
ID_NUMBER = ("person", "id_number")


def date_order_problems(raw: Any, now: datetime) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    observed = aware_datetime_at(raw, OBSERVED_AT)
    number = text_at(raw, ID_NUMBER)
    # the identity number's own rules report a malformed one; a date before the birth in it is no date
    # of this person's (and one in year 1 with an offset east of UTC is no time PostgreSQL or Python can keep)
    born = _born(number, now)
    if observed is not None and observed > now + CLOCK_SKEW:
        problems.append((OBSERVED_AT, "lies in the future; give the time the person was seen"))
    elif observed is not None and born is not None and observed.date() < born:
        problems.append((OBSERVED_AT, "is before the person was born (the identity number's birth date)"))
    arrived = date_at(raw, ARRIVED_ON)
    if arrived is not None and observed is not None and arrived > observed.date():
        problems.append((ARRIVED_ON, "is after the observation (observed_at); a person arrives before being seen"))
    elif arrived is not None and born is not None and arrived < born:
        problems.append((ARRIVED_ON, "is before the person was born (the identity number's birth date)"))
    issued, valid_until = date_at(raw, ISSUED_ON), date_at(raw, VALID_UNTIL)
    if issued is not None and valid_until is not None and issued > valid_until:
        problems.append((VALID_UNTIL, "is before the issue date (issued_on)"))
    checked = date_at(raw, CHECKED_ON)
    if checked is not None and checked > (now + CLOCK_SKEW).date():
        problems.append((CHECKED_ON, "lies in the future"))
    elif checked is not None and issued is not None and issued > checked:
        problems.append((ISSUED_ON, "is after the check date (checked_on)"))
    return problems


def _born(number: str | None, now: datetime) -> date | None:
    """The birth date of a sound identity number (its check digit right, the date passed); None otherwise,
    when the number's own rules report it and no other field is measured against it."""
    if number is None or len(number) != 18 or not has_valid_check_digit(number):
        return None
    born = birth_date_of(number)
    return born if born is not None and born <= now.date() else None
