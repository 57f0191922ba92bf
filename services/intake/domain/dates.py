"""Dates that must come in order: arrival, observation, now; issue, validity, check.

A date (a check, a birth) is measured against today where the deployment
lives (POPFLOW_TIMEZONE), not in UTC: from 00:00 to 08:00 in China the UTC
date is still yesterday, and a certificate checked this morning would lie in
the future.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.intake.domain.fields import FieldProblem, aware_datetime_at, date_at
from services.intake.domain.identity import birth_date

# Field devices' clocks drift; an observation a little ahead of ours is still believable.
CLOCK_SKEW = timedelta(minutes=5)
OBSERVED_AT = ("observed_at",)
ARRIVED_ON = ("residence", "arrived_on")
ISSUED_ON = ("certificate", "issued_on")
VALID_UNTIL = ("certificate", "valid_until")
CHECKED_ON = ("certificate", "checked_on")


def date_order_problems(raw: Any, now: datetime, zone: ZoneInfo, *, today: date) -> list[FieldProblem]:
    """Problems of the record's dates, `now` (timezone-aware) the instant, `zone` where its days are and `today`
    the date there (the caller's, worked out once a record)."""
    problems: list[FieldProblem] = []
    observed = aware_datetime_at(raw, OBSERVED_AT)
    # a date before the birth in the identity number is no date of this person's (and one in year 1 with an
    # offset east of UTC is no time PostgreSQL or Python can keep); a birth date to come is the number's problem
    born = birth_date(raw)
    born = born if born is not None and born <= today else None
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
    if checked is not None and checked > (now + CLOCK_SKEW).astimezone(zone).date():
        problems.append((CHECKED_ON, "lies in the future"))
    elif checked is not None and issued is not None and issued > checked:
        problems.append((ISSUED_ON, "is after the check date (checked_on)"))
    return problems
