"""The envelope: round trip, registry, upcasting of old payload versions."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from pydantic import Field, TypeAdapter

from shared.events import (
    CaseRecord,
    Envelope,
    RecordSubmitted,
    envelope_json,
    new_envelope,
    parse_event,
)
from shared.events.envelope import REGISTRY, Event, UnknownEventType, json_time, register
from tests.support.infra import TEST_KEYRING
from tests.support.kafka import routed_event
from tests.support.records import record


def test_round_trip_through_json() -> None:
    event = routed_event()
    envelope = new_envelope(event, producer="routing", correlation_id="r1", keyring=TEST_KEYRING)
    parsed = parse_event(Envelope.model_validate_json(envelope.model_dump_json()), TEST_KEYRING)
    assert parsed == event


def test_unknown_type_is_refused() -> None:
    envelope = Envelope.model_validate(
        {
            "event_id": "8c2d4a53-8a7e-4a4d-9d0a-4a7e8c2d4a53",
            "type": "Nope",
            "version": 1,
            "occurred_at": "2027-02-24T00:00:00Z",
            "producer": "x",
            "correlation_id": "r",
            "payload": {},
        }
    )
    with pytest.raises(UnknownEventType):
        parse_event(envelope, TEST_KEYRING)


def _split_name(payload: dict[str, Any]) -> dict[str, Any]:
    given, family = payload.pop("full_name").split(" ", 1)
    return {**payload, "given": given, "family": family}


def test_old_version_is_upcast() -> None:
    @register
    class Renamed(Event):
        TYPE: ClassVar[str] = "TestRenamed"
        VERSION: ClassVar[int] = 2
        TOPIC: ClassVar[str] = "test"
        UPCASTERS: ClassVar[dict[int, Any]] = {1: _split_name}
        given: str = Field(description="given name")
        family: str = Field(description="family name")

    try:
        old = {
            "event_id": "8c2d4a53-8a7e-4a4d-9d0a-4a7e8c2d4a53",
            "type": "TestRenamed",
            "version": 1,
            "occurred_at": "2027-02-24T00:00:00Z",
            "producer": "x",
            "correlation_id": "r",
            "payload": {"full_name": "Ada Lovelace"},
        }
        assert parse_event(Envelope.model_validate(old), TEST_KEYRING) == Renamed(given="Ada", family="Lovelace")
    finally:
        REGISTRY.pop("TestRenamed")


@pytest.mark.parametrize(
    "occurred_at",
    [datetime(2027, 2, 24, 3, tzinfo=UTC), datetime(2027, 2, 24, 3, 0, 1, 250, tzinfo=UTC), None],
)
def test_envelope_json_is_the_envelope_models_json(occurred_at: datetime | None) -> None:
    event_id = uuid.uuid4()
    fast = envelope_json(
        routed_event(), producer="routing", correlation_id="r1", event_id=event_id, occurred_at=occurred_at
    )
    model = new_envelope(
        routed_event(),
        producer="routing",
        correlation_id="r1",
        event_id=event_id,
        occurred_at=occurred_at or datetime.fromisoformat(fast["occurred_at"]),
    )
    assert fast == model.model_dump(mode="json")
    assert Envelope.model_validate(fast) == model


def test_envelope_json_seals_what_new_envelope_seals() -> None:
    event = RecordSubmitted(
        record_id="r1",
        received_at=datetime(2027, 2, 24, 3, tzinfo=UTC),
        record=CaseRecord.model_validate(record()),
        case_id="c1",
        case_version=1,
    )
    fast = envelope_json(event, producer="intake", correlation_id="r1", keyring=TEST_KEYRING)
    wire = json.dumps(fast, ensure_ascii=False)
    assert event.record.person.id_number not in wire
    assert event.record.person.name not in wire
    assert "person" not in fast["payload"]["record"]
    assert str(fast["payload"]["sealed"]).startswith("pf1.")  # with the addresses, in one block
    assert parse_event(Envelope.model_validate_json(wire), TEST_KEYRING) == event
    with pytest.raises(TypeError):
        envelope_json(event, producer="intake", correlation_id="r1")


def test_envelope_json_keeps_the_envelopes_bounds() -> None:
    with pytest.raises(ValueError, match="producer"):
        envelope_json(routed_event(), producer="p" * 41, correlation_id="r1")
    with pytest.raises(ValueError, match="correlation_id"):
        envelope_json(routed_event(), producer="routing", correlation_id="r" * 65)


def test_json_time_tells_equal_instants_of_other_zones_apart() -> None:
    utc = datetime(2027, 2, 24, 2, 30, 0, 250, tzinfo=UTC)
    shanghai = utc.astimezone(ZoneInfo("Asia/Shanghai"))
    assert utc == shanghai
    for _ in range(2):  # written, then remembered
        assert json_time(utc) == "2027-02-24T02:30:00.000250Z"
        assert json_time(shanghai) == "2027-02-24T10:30:00.000250+08:00"


class _Moment(datetime):
    """A subclass of datetime, which orjson refuses to write."""


class _NoOffset(tzinfo):
    """A zone that knows no offset: pydantic writes such a time as naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2027, 2, 24, 2, 30, tzinfo=UTC),
        datetime(2027, 2, 24, 2, 30, 0, 1, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2027, 2, 24, 10, 30, 0, 100, tzinfo=ZoneInfo("Asia/Shanghai")),
        datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York")),
        datetime(2027, 2, 24, tzinfo=timezone(-timedelta(hours=23, minutes=59))),
        datetime(2027, 2, 24, tzinfo=timezone(timedelta(0), "named")),
        datetime(2027, 2, 24, tzinfo=timezone(timedelta(hours=8, minutes=5, seconds=43))),
        datetime(2027, 2, 24, tzinfo=timezone(timedelta(seconds=1, microseconds=5))),
        _Moment(2027, 2, 24, 10, 30, tzinfo=UTC),  # a subclass, as a test clock's or a library's
    ],
    ids=str,
)
def test_json_time_writes_what_pydantic_writes(moment: datetime) -> None:
    """orjson writes the events' times now; a stored or published time must read as it did."""
    for _ in range(2):  # written, then remembered
        assert json_time(moment) == TypeAdapter(datetime).dump_python(moment, mode="json")


@pytest.mark.parametrize(
    "moment",
    [datetime(2027, 2, 24, 10, 30), datetime(1, 1, 1), datetime(2027, 2, 24, 10, 30, tzinfo=_NoOffset())],
    ids=str,
)
def test_json_time_refuses_a_time_without_an_offset(moment: datetime) -> None:
    """Every event's times carry one: a payload written as JSON directly (routing's, intake's) cannot send
    such a time, which every consumer would dead-letter; it was written naive, as pydantic writes it."""
    for _ in range(2):  # not remembered either
        with pytest.raises(ValueError, match="needs a time zone"):
            json_time(moment)
