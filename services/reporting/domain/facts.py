"""What reporting keeps of each event: small, flat facts without personal data.

Reporting is a tolerant reader of the record contract: it reads the fields
it needs from the payload, by the names of ../shared/DOMAIN.md, and treats
every optional field as possibly absent (intake adds them over time). A
missing required field makes the event unreadable (dead-lettered). The
identity number is reduced at once to a person key (HMAC), sex and birth
date; names, phones and addresses are never kept.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from services.reporting.domain.weeks import WeekCalendar
from shared.identity import birth_date_of, person_key, sex_of

EVENT_KINDS = frozenset({"new_inflow", "verification", "change", "outflow"})
CERTIFICATE_RESULTS = ("valid", "expired", "missing", "invalid")
# Optional fields whose absence lowers a record's quality, with their bit in `missing_mask`.
OPTIONAL_FIELDS = ("phone", "community", "arrival_date", "marital_status", "certificate", "employer")


class UnreadableEvent(ValueError):
    """The payload lacks a field reporting cannot do without; it is dead-lettered."""


@dataclass(frozen=True, slots=True)
class RecordFact:
    record_id: str
    reporting_street: str
    residence_street: str | None
    week: str
    observed_at: datetime
    received_at: datetime
    event_kind: str
    person_key: str | None
    sex: str | None
    birth_date: date | None
    marital_status: str | None
    arrival_date: date | None
    cert_result: str | None
    cert_valid_until: date | None
    missing_mask: int
    source_kind: str | None
    key_area_kind: str | None


@functools.cache
def _parts(name: str) -> tuple[str, ...]:
    return tuple(name.split("."))


def _path(data: Mapping[str, Any], *names: str) -> Any:
    """The first present value among dotted `names` ('certificate.result', 'certificate_result')."""
    for name in names:
        value: Any = data
        for part in _parts(name):
            # JSON objects are dicts; the exact type check is much faster than isinstance(Mapping)
            value = value.get(part) if type(value) is dict else None
        if value is not None and value != "":
            return value
    return None


def _moment(value: Any, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as error:
        raise UnreadableEvent(f"{field} is not a timestamp") from error
    if moment.tzinfo is None:
        raise UnreadableEvent(f"{field} has no offset")
    return moment.astimezone(UTC)  # stored in UTC: SQLite keeps no offsets


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _mask(present: Mapping[str, Any]) -> int:
    return sum(1 << bit for bit, field in enumerate(OPTIONAL_FIELDS) if present.get(field) in (None, ""))


def _part(record: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = record.get(name)
    return value if type(value) is dict else {}


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None and v != ""), None)


def record_fact(payload: Mapping[str, Any], calendar: WeekCalendar, key_secret: bytes) -> RecordFact:
    """The fact of a RecordSubmitted payload (any version that has the core fields).

    Each value is read from its DOMAIN.md place first and from the alternative
    places listed in docs/reporting.md after; the sub-objects are looked up
    once, since this runs for every record of a replay.
    """
    record = payload.get("record")
    if type(record) is not dict or not payload.get("record_id"):
        raise UnreadableEvent("no record")
    street, kind = record.get("reporting_street"), record.get("event")
    if not (isinstance(street, str) and len(street) == 9 and street.isdigit()) or kind not in EVENT_KINDS:
        raise UnreadableEvent("no reporting street or event kind")
    person, residence, certificate = _part(record, "person"), _part(record, "residence"), _part(record, "certificate")
    observed = _moment(record.get("observed_at"), "observed_at")
    id_number = str(person.get("id_number") or "").upper()
    readable_id = len(id_number) == 18 and id_number[:17].isdigit()
    optional = {
        "phone": _first(person.get("phone"), record.get("phone")),
        "community": _first(residence.get("community"), residence.get("community_code")),
        "arrival_date": _day(
            _first(residence.get("arrived_on"), residence.get("arrival_date"), record.get("arrival_date"))
        ),
        "marital_status": _first(record.get("marital_status"), person.get("marital_status")),
        "certificate": certificate or None,
        "employer": _first(record.get("employer")),
    }
    return RecordFact(
        record_id=str(payload["record_id"]),
        reporting_street=street,
        residence_street=residence.get("street"),
        week=calendar.week_of(observed),
        observed_at=observed,
        received_at=_moment(payload.get("received_at"), "received_at"),
        event_kind=kind,
        person_key=person_key(id_number, key_secret) if readable_id else None,
        sex=_first(person.get("sex"), record.get("sex")) or (sex_of(id_number) if readable_id else None),
        birth_date=birth_date_of(id_number) if readable_id else None,
        marital_status=optional["marital_status"],
        arrival_date=optional["arrival_date"],
        cert_result=_certificate_result(certificate),
        cert_valid_until=_day(certificate.get("valid_until")),
        missing_mask=_mask(optional),
        source_kind=_first(record.get("source_kind"), _path(record, "source.kind")),
        key_area_kind=_first(
            record.get("key_area"), record.get("key_area_kind"), _path(record, "source.key_area_kind")
        ),
    )


def _certificate_result(certificate: Mapping[str, Any]) -> str | None:
    result = _first(certificate.get("result"), certificate.get("check_result"), _path(certificate, "check.result"))
    return result if result in CERTIFICATE_RESULTS else None


@dataclass(frozen=True, slots=True)
class NoticeFact:
    """A notice as reporting counts it: who got it, by which route, when, and whether answered."""

    notice_id: str
    record_id: str | None = None
    recipient_code: str | None = None
    route: str | None = None
    issued_at: datetime | None = None
    week: str | None = None
    answered_at: datetime | None = None
    answer: str | None = None


def issued_fact(payload: Mapping[str, Any], calendar: WeekCalendar) -> NoticeFact:
    if not payload.get("notice_id") or not payload.get("recipient_code"):
        raise UnreadableEvent("no notice id or recipient")
    issued = _moment(payload.get("issued_at"), "issued_at")
    return NoticeFact(
        notice_id=str(payload["notice_id"]),
        record_id=str(payload.get("record_id") or "") or None,
        recipient_code=str(payload["recipient_code"]),
        route=str(payload.get("route") or "") or None,
        issued_at=issued,
        week=calendar.week_of(issued),
    )


def answered_fact(payload: Mapping[str, Any]) -> NoticeFact:
    if not payload.get("notice_id"):
        raise UnreadableEvent("no notice id")
    return NoticeFact(
        notice_id=str(payload["notice_id"]),
        answered_at=_moment(payload.get("answered_at"), "answered_at"),
        answer=str(payload.get("result") or "") or None,
    )


@dataclass(frozen=True, slots=True)
class RoutedFact:
    record_id: str
    reporting_street: str
    week: str
    observed_at: datetime
    route: str


def routed_fact(payload: Mapping[str, Any], calendar: WeekCalendar) -> RoutedFact:
    street, route = payload.get("reporting_street"), payload.get("route")
    if not payload.get("record_id") or not isinstance(street, str) or not route:
        raise UnreadableEvent("no record id, street or route")
    observed = _moment(payload.get("observed_at"), "observed_at")
    return RoutedFact(str(payload["record_id"]), street, calendar.week_of(observed), observed, str(route))


@dataclass(frozen=True, slots=True)
class RejectionFact:
    rejection_id: str
    reporting_street: str
    week: str
    rejected_at: datetime
    error_count: int
    source_kind: str | None


def rejection_fact(event_id: str, payload: Mapping[str, Any], calendar: WeekCalendar) -> RejectionFact:
    rejected = _moment(payload.get("rejected_at"), "rejected_at")
    return RejectionFact(
        rejection_id=event_id,
        reporting_street=str(payload.get("reporting_street") or ""),
        week=calendar.week_of(rejected),
        rejected_at=rejected,
        error_count=int(payload.get("error_count") or 1),
        source_kind=payload.get("source_kind"),
    )
