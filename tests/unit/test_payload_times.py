"""Every time inside an event's payload needs an offset: refused without one as the payload is read, naming it.

`received_at`, `observed_at` and `decided_at`, `issued_at` and `answer_due`, `rejected_at`, `delivered_at` and
`acknowledged_at` were plain datetimes: a naive one was read as UTC by notification (its inbox, webhooks and the
answer's due time), set a record's route in intake, and was refused by reporting alone. They are ClockTime now,
as the record's `observed_at`, `answered_at` and `resolved_at` were (the envelope's `occurred_at`:
tests/unit/test_naive_times.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from shared.events import (
    Envelope,
    Event,
    FeedbackResult,
    NoticeAcknowledged,
    NoticeAnswered,
    NoticeDelivered,
    NoticeIssued,
    RecordRejected,
    Resolution,
    ReviewResolved,
    new_envelope,
    parse_event,
)
from shared.events.envelope import REGISTRY
from tests.support import kafka
from tests.support.infra import TEST_KEYRING
from tests.support.kafka import routed_event
from tests.support.notices import numbered_notice
from tests.support.records import TONGDE, XINSHI, record
from tests.support.routing import dead_letters_of

NOW = datetime(2027, 2, 24, 2, 30, tzinfo=UTC)


def _one_of_each() -> list[Event]:
    """An event of every type on the topics, each of its times aware (a notice's `answer_due` too)."""
    status = {"notice_id": "n1", "record_id": "r1", "recipient_code": XINSHI, "route": "cross-street"}
    return [
        parse_event(kafka.submitted(record(residence_street=XINSHI, sequence=4)), TEST_KEYRING),
        routed_event(),
        numbered_notice(1).model_copy(update={"answer_due": NOW + timedelta(days=3)}),
        NoticeAnswered(
            notice_id="n1", record_id="r1", result=FeedbackResult.CONFIRMED, answered_by=XINSHI, answered_at=NOW
        ),
        NoticeDelivered(**status, kind="transfer", attempts=1, delivered_at=NOW),
        NoticeAcknowledged(**status, kind="transfer", acknowledged_by=XINSHI, acknowledged_at=NOW),
        RecordRejected(reporting_street=TONGDE, rejected_at=NOW, error_count=1),
        ReviewResolved(
            record_id="r1",
            resolution=Resolution.CORRECTED,
            field="residence.street",
            code=XINSHI,
            resolved_by="440111",
            resolved_at=NOW,
        ),
    ]


def _times(value: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The paths of the datetimes in a payload as python dumps it (the record's inside RecordSubmitted too)."""
    if isinstance(value, datetime):
        return [path]
    if isinstance(value, dict):
        return [found for key, inner in value.items() for found in _times(inner, (*path, key))]
    return []


PAYLOAD_TIMES = [(event, path) for event in _one_of_each() for path in _times(event.model_dump())]


def test_the_payload_times_checked_are_every_time_of_every_event_type() -> None:
    ours = {cls for cls in REGISTRY.values() if cls.__module__.startswith("shared.events.")}
    assert {type(event) for event, _ in PAYLOAD_TIMES} == ours
    assert {(type(event).TYPE, ".".join(path)) for event, path in PAYLOAD_TIMES} == {
        ("RecordSubmitted", "received_at"),
        ("RecordSubmitted", "record.observed_at"),
        ("RecordRouted", "observed_at"),
        ("RecordRouted", "decided_at"),
        ("NoticeIssued", "issued_at"),
        ("NoticeIssued", "answer_due"),
        ("NoticeAnswered", "answered_at"),
        ("NoticeDelivered", "delivered_at"),
        ("NoticeAcknowledged", "acknowledged_at"),
        ("RecordRejected", "rejected_at"),
        ("ReviewResolved", "resolved_at"),
    }


def _stamped(payload: dict[str, Any], path: tuple[str, ...], moment: str) -> dict[str, Any]:
    *outer, last = path
    inner = payload
    for key in outer:
        inner = inner[key]
    inner[last] = moment
    return payload


@pytest.mark.parametrize(
    ("event", "path"), PAYLOAD_TIMES, ids=[f"{type(e).TYPE}.{'.'.join(p)}" for e, p in PAYLOAD_TIMES]
)
def test_every_payload_time_without_a_zone_is_refused_naming_it(event: Event, path: tuple[str, ...]) -> None:
    """Never read as UTC (notification did: a notice issued at 10:30 in Beijing was put at 18:30 there)."""
    naive = _stamped(event.model_dump(mode="json"), path, "2027-02-24T10:30:00")
    with pytest.raises(ValidationError) as refused:
        type(event).model_validate(naive)
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [(path, "timezone_aware")]
    beijing = _stamped(event.model_dump(mode="json"), path, "2027-02-24T10:30:00+08:00")
    assert type(event).model_validate(beijing) is not None  # with its offset: read


@pytest.mark.parametrize(
    ("event", "group"),
    [(numbered_notice(2), "notification"), (routed_event(), "intake")],
    ids=["notification", "intake"],
)
async def test_a_consumer_dead_letters_an_event_whose_payload_time_has_no_zone(event: Event, group: str) -> None:
    """Notification stored such a notice at the time read as UTC, intake set such a record's route: now each
    sets the event aside naming the field, handles nothing of it, and goes on with the next."""
    handled: list[str] = []

    async def handler(batch: list[tuple[Envelope, Event]]) -> None:
        handled.extend(envelope.correlation_id for envelope, _ in batch)

    good = new_envelope(event, producer="test", correlation_id="good", keyring=TEST_KEYRING)
    body = json.loads(
        new_envelope(event, producer="test", correlation_id="naive", keyring=TEST_KEYRING).model_dump_json()
    )
    field = "issued_at" if isinstance(event, NoticeIssued) else "observed_at"
    body["payload"][field] = "2027-02-24T10:30:00"
    letters = await dead_letters_of(
        handler,
        [json.dumps(body).encode(), good.model_dump_json().encode()],
        topic=event.TOPIC,
        group=group,
        batch=True,
    )
    assert [(h["error_type"], h["error"]) for h in letters] == [("ValidationError", f"{field}: timezone_aware")]
    assert handled == ["good"]
