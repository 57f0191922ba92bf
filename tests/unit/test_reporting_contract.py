"""Contract test: events built from the shared models (shared/events) fold into reporting's facts.

The producers build their events from these classes; reporting decodes them
through `parse_event` and its upcasters. Whatever a producer may legally send
is folded, and the types reporting does not count (notice delivery status)
are skipped, not dead-lettered.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.decoding import FOLDED_TYPES, Decoded, Decoder
from services.reporting.adapters.fold import FactWriter
from services.reporting.adapters.tables import notices, records, rejections
from services.reporting.adapters.weekly_store import WeeklyStore
from services.reporting.bootstrap import MIGRATIONS
from services.reporting.domain.weeks import WeekCalendar
from shared.db import build_engine, run_migrations
from shared.events import (
    CaseRecord,
    Event,
    EventKind,
    FeedbackResult,
    NoticeAcknowledged,
    NoticeAnswered,
    NoticeDelivered,
    NoticeIssued,
    NoticeKind,
    NoticePerson,
    Person,
    RecordRejected,
    RecordRouted,
    RecordSubmitted,
    Registration,
    Residence,
    Route,
    new_envelope,
)
from shared.events.record_parts import Certificate, CertificateResult, KeyAreaKind, SourceKind
from tests.support.infra import TEST_KEYRING
from tests.support.records import BAIYUN, FURONG, TONGDE, XINSHI, id_number

CALENDAR = WeekCalendar(ZoneInfo("Asia/Shanghai"))
SHANGHAI = ZoneInfo("Asia/Shanghai")
RECORD_ID, NOTICE_ID = str(uuid.uuid4()), str(uuid.uuid4())


@dataclass
class Message:
    value: bytes
    topic: str = "t"
    offset: int = 0


def at(day: int, hour: int) -> datetime:
    return datetime(2027, 2, day, hour, tzinfo=SHANGHAI)


def message(event: Event) -> Message:
    return Message(
        new_envelope(event, producer="test", correlation_id=RECORD_ID, keyring=TEST_KEYRING).model_dump_json().encode()
    )


SUBMITTED = RecordSubmitted(
    record_id=RECORD_ID,
    received_at=at(22, 12),
    record=CaseRecord(
        event=EventKind.NEW_INFLOW,
        person=Person(id_number=id_number(sequence=12), name="测试", phone="13800000000"),
        reporting_street=TONGDE,
        residence=Residence(street=XINSHI, address="测试路 1 号", arrived_on=date(2027, 1, 15)),
        registration=Registration(division=FURONG),
        observed_at=at(22, 10),
        certificate=Certificate(result=CertificateResult.VALID, checked_on=date(2027, 2, 22)),
        source_kind=SourceKind.CANVASS,
        key_area=KeyAreaKind.MARKET,
    ),
)
ROUTED = RecordRouted(
    record_id=RECORD_ID,
    route=Route.CROSS_STREET,
    reporting_street=TONGDE,
    residence_street=XINSHI,
    observed_at=at(22, 10),
    decided_at=at(22, 12),
)
ISSUED = NoticeIssued(
    notice_id=NOTICE_ID,
    record_id=RECORD_ID,
    recipient_code=XINSHI,
    route=Route.CROSS_STREET,
    reason="lives in the recipient's street",
    person=NoticePerson(name="测试", id_number=id_number(sequence=12), residence_address="测试路 1 号"),
    issued_at=at(22, 13),
    kind=NoticeKind.TRANSFER,
    answer_expected=True,
)


def answered(day: int, result: FeedbackResult) -> NoticeAnswered:
    return NoticeAnswered(
        notice_id=NOTICE_ID, record_id=RECORD_ID, result=result, answered_by=XINSHI, answered_at=at(day, 9)
    )


STATUS = [
    NoticeDelivered(
        notice_id=NOTICE_ID,
        record_id=RECORD_ID,
        recipient_code=XINSHI,
        route="cross-street",
        kind="transfer",
        attempts=1,
        delivered_at=at(22, 14),
    ),
    NoticeAcknowledged(
        notice_id=NOTICE_ID,
        record_id=RECORD_ID,
        recipient_code=XINSHI,
        route="cross-street",
        kind="transfer",
        acknowledged_by=XINSHI,
        acknowledged_at=at(22, 15),
    ),
]
REJECTED = RecordRejected(reporting_street=TONGDE, rejected_at=at(23, 8), error_count=2, source_kind="canvass")
EVENTS: list[Event] = [
    SUBMITTED,
    ROUTED,
    ISSUED,
    answered(24, FeedbackResult.CONFIRMED),
    answered(23, FeedbackResult.NOT_FOUND),  # earlier, arriving later: the first answer by time counts
    *STATUS,
    REJECTED,
]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/reporting.db")
    await run_migrations(engine, MIGRATIONS)
    yield engine
    await engine.dispose()


def decode(events: list[Event]) -> Decoded:
    return Decoder(CALENDAR, b"secret", TEST_KEYRING).decode([message(event) for event in events])


async def test_events_of_the_shared_models_fold_into_the_facts(engine: AsyncEngine) -> None:
    decoded = decode(EVENTS)
    assert decoded.unreadable == []
    assert decoded.ignored == len(STATUS)
    await FactWriter(engine).write(decoded.batch)

    async with engine.connect() as connection:
        record = (await connection.execute(sa.select(records))).one()._mapping
        notice = (await connection.execute(sa.select(notices))).one()._mapping
        rejection = (await connection.execute(sa.select(rejections))).one()._mapping
    assert (record["record_id"], record["week"], record["event_kind"]) == (RECORD_ID, "2027-W08", "new_inflow")
    assert (record["route"], record["cert_result"], record["sex"]) == ("cross-street", "valid", "female")
    assert (record["source_kind"], record["key_area_kind"]) == ("canvass", "market")
    assert (notice["recipient_code"], notice["sender_street"], notice["answer"]) == (XINSHI, TONGDE, "not_found")
    assert (rejection["reporting_street"], rejection["error_count"]) == (TONGDE, 2)

    bounds = CALENDAR.bounds("2027-W08")
    rows, _ = await WeeklyStore(engine).street_weeks(
        bounds, BAIYUN, as_of=bounds.ends_at, target=None, on=bounds.ends_at.date()
    )
    tongde = rows[TONGDE].figures
    assert (tongde["new_inflow"], tongde["certificate_valid"], tongde["sent_cross-street"]) == (1, 1, 1)
    assert tongde["rejected_at_intake"] == 1
    assert rows[XINSHI].figures["received_cross-street"] == 1


def test_a_version_1_notice_is_upcast_before_it_is_folded() -> None:
    envelope = new_envelope(ISSUED, producer="test", correlation_id=RECORD_ID, keyring=TEST_KEYRING)
    old = envelope.model_copy(
        update={
            "version": 1,
            # version 1: the person in clear, no kind
            "payload": {
                k: v for k, v in ISSUED.model_dump(mode="json").items() if k not in ("kind", "exchange_endpoint")
            },
        }
    )
    decoded = Decoder(CALENDAR, b"secret", TEST_KEYRING).decode([Message(old.model_dump_json().encode())])
    assert decoded.unreadable == []
    assert decoded.batch.issued[NOTICE_ID].recipient_code == XINSHI


def test_a_payload_that_breaks_the_contract_is_dead_lettered_without_its_values() -> None:
    envelope = new_envelope(SUBMITTED, producer="test", correlation_id=RECORD_ID, keyring=TEST_KEYRING)
    payload, valid = SUBMITTED.model_dump(mode="json"), id_number(sequence=12)  # as version 1 carried it, in clear
    mistyped = valid[:-1] + ("0" if valid[-1] != "0" else "1")  # the check digit no longer matches
    person = {**payload["record"]["person"], "id_number": mistyped}
    broken = {**payload, "record": {**payload["record"], "person": person}}
    decoded = Decoder(CALENDAR, b"secret", TEST_KEYRING).decode(
        [Message(envelope.model_copy(update={"payload": broken, "version": 1}).model_dump_json().encode())]
    )
    [(_, why)] = decoded.unreadable
    assert "record.person.id_number" in why
    assert mistyped not in why


def _times(value: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The paths of the datetimes in a payload as python dumps it (the record's inside RecordSubmitted too)."""
    if isinstance(value, datetime):
        return [path]
    if isinstance(value, dict):
        return [found for key, inner in value.items() for found in _times(inner, (*path, key))]
    return []


FOLDED_TIMES = [
    (event, path)
    for event in (SUBMITTED, ROUTED, ISSUED.model_copy(update={"answer_due": at(25, 0)}), EVENTS[3], REJECTED)
    for path in _times(event.model_dump())
]


def test_the_times_checked_are_every_time_of_every_event_type_reporting_folds() -> None:
    """Facts convert these to UTC without a check of their own (facts._utc): the contract is their only guard."""
    assert {type(event).TYPE for event, _ in FOLDED_TIMES} == FOLDED_TYPES
    assert {"record.observed_at", "received_at", "issued_at", "answered_at", "rejected_at"} <= {
        ".".join(path) for _, path in FOLDED_TIMES
    }


@pytest.mark.parametrize(
    ("event", "path"), FOLDED_TIMES, ids=[f"{type(e).TYPE}.{'.'.join(p)}" for e, p in FOLDED_TIMES]
)
@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+14:00",  # a year before the first in UTC
        "2027-02-25T10:00:00",  # no offset: 10:00 where? (refused by the contract itself, as every consumer reads it)
    ],
)
def test_an_event_whose_time_is_no_instant_is_set_aside_and_the_rest_decoded(
    event: Event, path: tuple[str, ...], moment: str
) -> None:
    decoder, messages = Decoder(CALENDAR, b"secret", TEST_KEYRING), [message(e) for e in EVENTS]
    body = new_envelope(event, producer="test", correlation_id=RECORD_ID, keyring=TEST_KEYRING).model_dump(mode="json")
    *outer, last = path
    inner = body["payload"]
    for key in outer:
        inner = inner[key]
    inner[last] = moment
    decoded = decoder.decode([Message(orjson.dumps(body)), *messages])
    [(_, why)] = decoded.unreadable
    assert why.startswith(f"ValidationError: {'.'.join(path)}: ")
    assert decoded.batch == decoder.decode(messages).batch


def test_a_batch_decoded_slice_by_slice_holds_what_it_holds_decoded_at_once() -> None:
    decoder, messages = Decoder(CALENDAR, b"secret", TEST_KEYRING), [message(event) for event in EVENTS]
    whole = decoder.decode(messages)
    sliced = decoder.decode(messages[:2])
    assert decoder.decode(messages[2:], into=sliced) is sliced
    assert (sliced.batch, sliced.ignored, sliced.unreadable) == (whole.batch, whole.ignored, whole.unreadable)
    assert len(sliced.batch.submitted) == len(sliced.batch.issued) == len(sliced.batch.answered) == 1
