"""Place checks (补登遗漏): the persons found at a place compared with the records PopFlow holds.

The acceptance checks of the campaign go to markets, shops, enterprises,
schools and kindergartens and list who they find there. A person found whom
PopFlow holds a current record of is *found*; one it holds nothing of, or
whose latest record says they moved away (an outflow), is *missed*: the
street's census did not catch them. Persons are compared by their keyed
person key, never by identity number. Pure: no store, no clock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo

# A place check finds people at about midday; a record needs a moment, not a day.
OBSERVED_AT = time(12, 0)


class PlaceKind(StrEnum):
    """Where an acceptance check goes (the plan's markets, shops, enterprises, schools, kindergartens)."""

    MARKET = "market"
    ROADSIDE_SHOP = "roadside_shop"
    ENTERPRISE = "enterprise"
    SCHOOL = "school"
    KINDERGARTEN = "kindergarten"
    RENTAL_HOUSING = "rental_housing"
    OTHER = "other"


class Outcome(StrEnum):
    FOUND = "found"  # PopFlow holds a current record of the person
    MISSED = "missed"  # PopFlow holds none, or the person's latest record is an outflow


@dataclass(frozen=True, slots=True)
class Held:
    """A record PopFlow holds of a person, as much as the comparison needs."""

    record_id: str
    event_kind: str
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class Finding:
    person_key: str
    outcome: Outcome
    record_id: str | None  # found: the person's latest record; missed: None until entered


def compare(person_keys: Sequence[str], held: Mapping[str, Iterable[Held]]) -> list[Finding]:
    """One finding per person found, in the order given."""
    findings = []
    for key in person_keys:
        latest = max(held.get(key, ()), key=lambda h: (h.observed_at, h.record_id), default=None)
        if latest is None or latest.event_kind == "outflow":
            findings.append(Finding(key, Outcome.MISSED, None))
        else:
            findings.append(Finding(key, Outcome.FOUND, latest.record_id))
    return findings


def listed_twice(person_keys: Sequence[str]) -> list[int]:
    """Positions (from 0) of persons already listed earlier in the same check."""
    seen: set[str] = set()
    twice = []
    for position, key in enumerate(person_keys):
        if key in seen:
            twice.append(position)
        seen.add(key)
    return twice


def observed_moment(checked_on: date, zone: ZoneInfo, now: datetime) -> datetime:
    """When a missed person counts as seen: midday of the check's day, or now if that is still to come."""
    return min(datetime.combine(checked_on, OBSERVED_AT, tzinfo=zone), now.astimezone(zone))


def fingerprint(header: Mapping[str, object], person_keys: Iterable[str], secret: bytes) -> str:
    """What makes a place check the same check when posted again: its place, day, checker and persons.

    Keyed like the person keys, so the stored value says nothing about whom it lists.
    """
    canonical = json.dumps({**header, "persons": sorted(person_keys)}, sort_keys=True, default=str)
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()


def external_id(place_check_id: str, person_key: str) -> str:
    """The entered record's id at its source: the same person of the same check is the same record at intake."""
    return f"pc:{place_check_id}:{person_key[:16]}"
