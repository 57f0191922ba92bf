"""What reporting keeps of each event: small, flat facts without personal data.

Every event arrives parsed and upcast by shared/events (the contract), so a
fact reads typed fields, never payload paths. The identity number is reduced
at once to a person key (HMAC), sex and birth date; names, phones and
addresses are never kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from services.reporting.domain.weeks import WeekCalendar
from shared.events import NoticeAnswered, NoticeIssued, RecordRejected, RecordRouted, RecordSubmitted
from shared.identity import birth_date_of, person_key, sex_of

# Optional fields whose absence lowers a record's quality, with their bit in `missing_mask`.
OPTIONAL_FIELDS = ("phone", "community", "arrival_date", "marital_status", "certificate", "employer")


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
    community: str | None = None


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC, as the store keeps it (SQLite keeps no offsets).

    Every time a fact is made from is a ClockTime of the contract (shared/events/records.py): parse_event
    has refused one without an offset, and one outside the years 1 to 9999 once in UTC (year 1 at +14:00),
    so nothing is left here to refuse (tests/unit/test_reporting_contract.py sets both aside, per time).
    """
    return moment.astimezone(UTC)


def _mask(present: dict[str, object]) -> int:
    return sum(1 << bit for bit, field in enumerate(OPTIONAL_FIELDS) if present[field] is None)


def record_fact(event: RecordSubmitted, calendar: WeekCalendar, key_secret: bytes) -> RecordFact:
    """The fact of a RecordSubmitted: what the counts need, the identity number reduced to a key."""
    record = event.record
    person, residence, certificate = record.person, record.residence, record.certificate
    observed = _utc(record.observed_at)
    optional: dict[str, object] = {
        "phone": person.phone,
        "community": residence.community,
        "arrival_date": residence.arrived_on,
        "marital_status": record.marital_status,
        "certificate": certificate,
        "employer": record.employer,
    }
    return RecordFact(
        record_id=event.record_id,
        reporting_street=record.reporting_street,
        residence_street=residence.street,
        week=calendar.week_of(observed),
        observed_at=observed,
        received_at=_utc(event.received_at),
        event_kind=record.event.value,
        person_key=person_key(person.id_number, key_secret),
        sex=person.sex.value if person.sex else sex_of(person.id_number),
        birth_date=birth_date_of(person.id_number),
        marital_status=record.marital_status.value if record.marital_status else None,
        arrival_date=residence.arrived_on,
        cert_result=certificate.result.value if certificate else None,
        cert_valid_until=certificate.valid_until if certificate else None,
        missing_mask=_mask(optional),
        source_kind=record.source_kind.value if record.source_kind else None,
        key_area_kind=record.key_area.value if record.key_area else None,
        community=residence.community,
    )


@dataclass(frozen=True, slots=True)
class NoticeFact:
    """A notice as reporting counts it: who got it, by which route, when, of what kind, and whether answered.

    `kind` and `answer_expected` come from the NoticeIssued (an older version upcast by shared/events: a
    version-1 notice is a transfer, expected to be answered when cross-street); an answer folded before its
    notice leaves them None until the notice comes.
    """

    notice_id: str
    record_id: str | None = None
    recipient_code: str | None = None
    route: str | None = None
    issued_at: datetime | None = None
    week: str | None = None
    answered_at: datetime | None = None
    answer: str | None = None
    kind: str | None = None
    answer_expected: bool | None = None


def issued_fact(event: NoticeIssued, calendar: WeekCalendar) -> NoticeFact:
    issued = _utc(event.issued_at)
    return NoticeFact(
        notice_id=event.notice_id,
        record_id=event.record_id or None,
        recipient_code=event.recipient_code,
        route=event.route.value,
        issued_at=issued,
        week=calendar.week_of(issued),
        kind=event.kind.value,
        answer_expected=event.answer_expected,
    )


def answered_fact(event: NoticeAnswered) -> NoticeFact:
    return NoticeFact(
        notice_id=event.notice_id,
        answered_at=_utc(event.answered_at),
        answer=event.result.value,
    )


@dataclass(frozen=True, slots=True)
class RoutedFact:
    record_id: str
    reporting_street: str
    week: str
    observed_at: datetime
    route: str


def routed_fact(event: RecordRouted, calendar: WeekCalendar) -> RoutedFact:
    observed = _utc(event.observed_at)
    return RoutedFact(event.record_id, event.reporting_street, calendar.week_of(observed), observed, event.route.value)


@dataclass(frozen=True, slots=True)
class RejectionFact:
    rejection_id: str
    reporting_street: str
    week: str
    rejected_at: datetime
    error_count: int
    source_kind: str | None


def rejection_fact(event_id: str, event: RecordRejected, calendar: WeekCalendar) -> RejectionFact:
    rejected = _utc(event.rejected_at)
    return RejectionFact(
        rejection_id=event_id,
        reporting_street=event.reporting_street,
        week=calendar.week_of(rejected),
        rejected_at=rejected,
        error_count=event.error_count,
        source_kind=event.source_kind,
    )
