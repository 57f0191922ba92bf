"""Event contracts shared by every service: the envelope and the payloads."""

from shared.events.envelope import Envelope, Event, envelope_json, new_envelope, parse_event
from shared.events.feedback import FeedbackResult, NoticeAnswered, RejectionReason
from shared.events.notice_status import NoticeAcknowledged, NoticeDelivered
from shared.events.notices import NoticeIssued, NoticeKind, NoticePerson
from shared.events.records import (
    CaseRecord,
    EventKind,
    Person,
    RecordSubmitted,
    Registration,
    Residence,
)
from shared.events.rejections import RecordRejected
from shared.events.reviews import Resolution, ReviewResolved
from shared.events.routing import RecordRouted, Route

__all__ = [
    "CaseRecord",
    "Envelope",
    "Event",
    "EventKind",
    "FeedbackResult",
    "NoticeAcknowledged",
    "NoticeAnswered",
    "NoticeDelivered",
    "NoticeIssued",
    "NoticeKind",
    "NoticePerson",
    "Person",
    "RecordRejected",
    "RecordRouted",
    "RecordSubmitted",
    "Registration",
    "RejectionReason",
    "Residence",
    "Resolution",
    "ReviewResolved",
    "Route",
    "envelope_json",
    "new_envelope",
    "parse_event",
]
