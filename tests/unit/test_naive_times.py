"""A time without a time zone, edge by edge: refused with the field named, or dead-lettered, never taken.

`2027-02-24T10:30:00` is 10:30 in Beijing or 18:30 there, read as UTC: no consumer can place it. An envelope
with such an `occurred_at` was accepted (Envelope's field took a naive datetime) and routing's rebuild read it
as UTC; a partner's message with one was refused as "N problems" (https) or a line "malformed" (FTP), without
saying what to mend. Our own producers write aware UTC times: a naive one is refused before it is sent.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from pydantic import ValidationError

from services.intake.domain.validation import validate_record
from services.notification.adapters.exchange_store import ExchangeStore
from services.notification.adapters.inbox import Inbox
from services.notification.domain import exchange_crypto as crypto
from services.notification.domain.exchange_batch import SetAside, build_batch, open_batch, read_manifest
from services.notification.service_layer.exchange_door import ExchangeDoor
from services.notification.service_layer.exchange_outbound import OwnKeys
from shared.clock import FixedClock
from shared.directory import load_directory
from shared.events import Envelope, Event, RecordSubmitted, new_envelope
from shared.events.envelope import envelope_json, payload_envelope_json
from shared.exchange.partners import Partner, PartnerKeys, PartnerTable, Transport
from shared.http.problems import ProblemError
from tests.support import kafka
from tests.support.kafka import routed_event
from tests.support.records import XINSHI, record
from tests.support.routing import dead_letters_of

NOW = datetime(2027, 2, 24, 2, 30, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))
THEIRS, OURS = crypto.new_key_pairs(), crypto.new_key_pairs()


def _by_model(event: Event, occurred_at: datetime | None) -> dict[str, Any]:
    return new_envelope(event, producer="routing", correlation_id="r1", occurred_at=occurred_at).model_dump(mode="json")


def _by_json(event: Event, occurred_at: datetime | None) -> dict[str, Any]:
    return envelope_json(event, producer="routing", correlation_id="r1", occurred_at=occurred_at)


def _by_payload(event: Event, occurred_at: datetime | None) -> dict[str, Any]:
    payload = event.model_dump(mode="json")
    return payload_envelope_json(type(event), payload, producer="routing", correlation_id="r1", occurred_at=occurred_at)


CONSTRUCTORS = [_by_model, _by_json, _by_payload]
Constructor = Callable[[Event, datetime | None], dict[str, Any]]


@pytest.mark.parametrize("construct", CONSTRUCTORS)
@pytest.mark.parametrize("occurred_at", [None, NOW, NOW.astimezone(BEIJING), NOW + timedelta(microseconds=250)])
def test_every_envelope_constructor_writes_an_aware_utc_time(construct: Constructor, occurred_at: datetime) -> None:
    written = construct(routed_event(), occurred_at)["occurred_at"]
    assert written.endswith("Z")  # UTC, as pydantic writes it
    moment = datetime.fromisoformat(written)
    assert moment.utcoffset() == timedelta(0)
    if occurred_at is not None:
        assert moment == occurred_at


@pytest.mark.parametrize("construct", CONSTRUCTORS)
def test_no_envelope_constructor_writes_a_time_without_a_zone(construct: Constructor) -> None:
    with pytest.raises(ValueError, match="occurred_at needs a time zone"):
        construct(routed_event(), NOW.replace(tzinfo=None))


def _naive(envelope: Envelope) -> bytes:
    body = json.loads(envelope.model_dump_json())
    body["occurred_at"] = "2027-02-24T10:30:00"
    return json.dumps(body).encode()


def test_an_envelope_without_a_zone_does_not_decode() -> None:
    with pytest.raises(ValidationError) as refused:
        Envelope.model_validate_json(_naive(kafka.submitted(record(residence_street=XINSHI, sequence=1))))
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [(("occurred_at",), "timezone_aware")]


async def test_a_consumer_dead_letters_an_envelope_without_a_zone_and_never_handles_it() -> None:
    handled: list[str] = []

    async def handler(envelope: Envelope, event: Event) -> None:
        handled.append(envelope.correlation_id)

    good = kafka.submitted(record(residence_street=XINSHI, sequence=2))
    naive = kafka.submitted(record(residence_street=XINSHI, sequence=3))
    letters = await dead_letters_of(
        handler, [_naive(naive), good.model_dump_json().encode()], topic=RecordSubmitted.TOPIC, group="routing"
    )
    assert [(h["error_type"], h["error"]) for h in letters] == [("ValidationError", "occurred_at: timezone_aware")]
    assert handled == [good.correlation_id]  # the next message handled: the naive one not retried


def _door() -> tuple[ExchangeDoor, Partner]:
    partner = Partner(
        "tianhe",
        Transport.HTTPS,
        url="http://tianhe.example",
        keys=PartnerKeys(verify_key=THEIRS["verify_key"], seal_key=THEIRS["seal_key"]),
    )
    unused: Any = None
    door = ExchangeDoor(
        partners=lambda: PartnerTable(by_prefix={"440106": partner}),
        store=cast(ExchangeStore, unused),
        inbox=cast(Inbox, unused),
        keys=OwnKeys(OURS["signing_key"], OURS["sealing_key"]),
        served_districts=["440111"],
        clock=FixedClock(NOW),
        directory=load_directory(),
        on_scheduled=lambda: None,
    )
    return door, partner


def _notice_message(message_id: str, issued_at: str, answer_due: str) -> bytes:
    notice = {
        "notice_id": str(uuid.uuid4()), "record_id": "r1", "recipient_code": "440111008", "route": "inter-district",
        "kind": "transfer", "reason": "please verify", "issued_at": issued_at, "answer_expected": True,
        "answer_due": answer_due,
    }  # fmt: skip
    message = {"message_id": message_id, "type": "notice", "sender": "440106", "notice": notice, "sealed": "x"}
    return json.dumps(message).encode()


def _signed(body: bytes, message_id: str) -> dict[str, str]:
    timestamp = str(int(NOW.timestamp()))
    return {
        "PopFlow-Exchange-Sender": "440106",
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": crypto.sign_ed25519(THEIRS["signing_key"], message_id, timestamp, body),
    }


def test_a_partners_https_message_with_a_time_without_a_zone_is_a_422_naming_the_field() -> None:
    door, _ = _door()
    body = _notice_message("m-1", "2027-02-24T10:30:00", "2027-03-03T10:30:00+08:00")
    with pytest.raises(ProblemError) as refused:
        door.authenticate(_signed(body, "m-1"), body)
    assert refused.value.status == 422
    assert "/notice/issued_at needs a time zone" in str(refused.value.detail)
    assert refused.value.extra["errors"] == [
        {"pointer": "/notice/issued_at", "detail": "needs a time zone (an offset, e.g. +08:00)"}
    ]
    body = _notice_message("m-2", "2027-02-24T10:30:00+08:00", "2027-03-03T10:30:00+08:00")
    assert door.authenticate(_signed(body, "m-2"), body)[1].message_id == "m-2"  # with its zone: read


def _ftp_batch(lines: list[bytes]) -> tuple[dict[str, object], bytes]:
    batch = build_batch(
        batch_id="440106-440111-1",
        sender="440106",
        recipient="440111",
        lines=lines,
        seal_key=OURS["seal_key"],
        timestamp="1800000000",
        sign=functools.partial(crypto.sign_ed25519, THEIRS["signing_key"]),
    )
    return read_manifest(batch.manifest), batch.file


def test_an_ftp_line_with_a_time_without_a_zone_is_refused_naming_the_field_and_a_batch_of_them_set_aside() -> None:
    aware, naive = "2027-02-24T10:30:00+08:00", "2027-02-24T10:30:00"
    lines = [
        _notice_message("m-1", aware, aware),
        _notice_message("m-2", naive, naive),
        _notice_message("m-3", aware, naive),
    ]
    opened = open_batch(*_ftp_batch(lines), OURS["sealing_key"])
    assert [n for n, _ in opened.messages] == [1]
    assert opened.malformed == [
        (2, "notice.issued_at, notice.answer_due needs a time zone (an offset, e.g. +08:00)"),
        (3, "notice.answer_due needs a time zone (an offset, e.g. +08:00)"),
    ]
    with pytest.raises(SetAside, match=r"no message of the batch reads: lines 1-2: notice.issued_at needs a time zone"):
        open_batch(
            *_ftp_batch([_notice_message("m-4", naive, aware), _notice_message("m-5", naive, aware)]),
            OURS["sealing_key"],
        )


def test_intake_refuses_a_record_observed_without_a_zone_naming_the_field() -> None:
    """Already so before (ClockTime): pinned here with the other edges. A spreadsheet's time without an offset is
    China Standard Time instead (docs/intake.md), read so before validation (domain/columns.py)."""
    raw = record(observed_at="2027-02-24T10:30:00")
    assert validate_record(raw, load_directory(), now=NOW + timedelta(days=1))[1] == [
        (("observed_at",), "needs a time-zone offset, e.g. 2027-02-24T10:30:00+08:00")
    ]
