"""parse_event's fast path (current version: no copy of the payload, only the sealed paths copied
and opened) gives every consumer what the round-4 implementation gave, for every registered type.

`_reference_parse` is that implementation, kept here as the yardstick: a deep copy of the
payload, each sealed path opened in it, the upcasters, then validation; for a version that seals
its parts together, the block opened and each part set at its path instead. What only the block's
rules refuse (a part in clear beside it, a part it should not hold) is tested in test_sealed_block.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest

from shared.events import (
    CaseRecord,
    Envelope,
    Event,
    FeedbackResult,
    NoticeAnswered,
    RecordSubmitted,
    ReviewResolved,
    new_envelope,
    parse_event,
)
from shared.events.envelope import REGISTRY, SealedWithoutKeyring, UnknownEventType
from shared.events.reviews import Resolution
from shared.sealing import Keyring, SealError
from tests.support.infra import TEST_KEYRING
from tests.support.records import TONGDE, WUSHAN, XINSHI, full_record, record
from tests.support.sealed_events import per_path
from tests.unit.test_reporting_contract import EVENTS, ISSUED, SUBMITTED


def _reference_parse(envelope: Envelope, keyring: Keyring | None = None) -> Event:
    event_class = REGISTRY.get(envelope.type)
    if event_class is None:
        raise UnknownEventType(envelope.type)
    payload = dict(envelope.payload)
    if event_class.SEALED and envelope.version >= event_class.SEALED_SINCE:
        if keyring is None:
            raise SealedWithoutKeyring(envelope.type)
        payload = _copied(payload)
        together = event_class.SEALED_TOGETHER_SINCE
        if together is not None and envelope.version >= together:
            block = payload.pop("sealed")
            for path, value in keyring.open(block, context=f"{event_class.TYPE}/{envelope.event_id}/sealed").items():
                _put(payload, path, value)
            return event_class.model_validate(payload)  # no upcaster after the last version
        for path in event_class.SEALED:
            if envelope.version < event_class.SEALED_FROM.get(path, event_class.SEALED_SINCE):
                continue  # sealed from a later version: this one carries it in clear
            _replace(payload, path, partial(_open, keyring, f"{event_class.TYPE}/{envelope.event_id}/{path}"))
    for version in range(envelope.version, event_class.VERSION):
        payload = event_class.UPCASTERS[version](payload)
    return event_class.model_validate(payload)


def _open(keyring: Keyring, context: str, token: Any) -> Any:
    return keyring.open(str(token), context=context)


def _replace(payload: dict[str, Any], path: str, change: Callable[[Any], Any]) -> None:
    *parents, last = path.split(".")
    node: Any = payload
    for name in parents:
        node = node.get(name) if isinstance(node, dict) else None
    if isinstance(node, dict) and node.get(last) is not None:
        node[last] = change(node[last])


def _put(payload: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = payload
    for name in parents:
        node = node.get(name) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node[last] = value


def _copied(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: _copied(v) if isinstance(v, dict) else v for k, v in payload.items()}


AT = datetime(2027, 2, 24, 3, tzinfo=UTC)
OUTFLOW = RecordSubmitted(
    record_id="r-out",
    received_at=AT,
    record=CaseRecord.model_validate(
        full_record(event="outflow") | {"new_residence": {"street": WUSHAN, "address": "天河路 2 号"}}
    ),
    case_id="c1",
    case_version=2,
)
PLAIN = RecordSubmitted(record_id="r-plain", received_at=AT, record=CaseRecord.model_validate(record()))
CORRECTED = NoticeAnswered(
    notice_id=str(uuid.uuid4()),
    record_id="r1",
    result=FeedbackResult.CORRECTED,
    corrections={"name": "王五", "residence_address": "新市路 3 号"},
    note="改了姓名",
    answered_by=XINSHI,
    answered_at=AT,
)
RESOLVED = ReviewResolved(
    record_id="r1",
    resolution=Resolution.CORRECTED,
    field="residence.street",
    code=TONGDE,
    resolved_by="440111",
    resolved_at=AT,
)
CURRENT: list[Event] = [*EVENTS, OUTFLOW, PLAIN, CORRECTED, RESOLVED]


def _wire(envelope: Envelope | dict[str, Any]) -> Envelope:
    """As a consumer has it: validated from the JSON bytes on the wire."""
    model = envelope if isinstance(envelope, Envelope) else Envelope.model_validate(envelope)
    return Envelope.model_validate_json(model.model_dump_json())


def _sealed(event: Event) -> Envelope:
    return _wire(new_envelope(event, producer="test", correlation_id="r1", keyring=TEST_KEYRING))


def _older(event: Event, version: int, drop: tuple[str, ...] = ()) -> Envelope:
    """`event` as an older producer wrote it: in clear, without the fields `version` did not have."""
    payload = {k: v for k, v in event.model_dump(mode="json").items() if k not in drop}
    envelope = new_envelope(event, producer="test", correlation_id="r1", keyring=TEST_KEYRING)
    return _wire(envelope.model_dump(mode="json") | {"version": version, "payload": payload})


OLDER = [
    _older(ISSUED, 1, drop=("kind", "exchange_endpoint", "answer_expected", "answer_due")),
    _older(ISSUED, 2, drop=("answer_expected", "answer_due")),
    _older(ISSUED, 3),
    _older(SUBMITTED, 1),
    _older(OUTFLOW, 1),
    _older(CORRECTED, 1),
    _wire(per_path(SUBMITTED, 2)),
    _wire(per_path(OUTFLOW, 3)),  # each part sealed in its place, as before version 4
]


def test_every_registered_type_is_covered() -> None:
    assert {type(event) for event in CURRENT} == set(REGISTRY.values())


@pytest.mark.parametrize("envelope", [_sealed(e) for e in CURRENT] + OLDER, ids=lambda e: f"{e.type}-v{e.version}")
def test_the_event_and_the_envelope_are_what_the_reference_gives(envelope: Envelope) -> None:
    before = envelope.model_dump(mode="json")
    event = parse_event(envelope, TEST_KEYRING)
    assert event == _reference_parse(envelope, TEST_KEYRING)
    assert type(event) is REGISTRY[envelope.type]
    assert envelope.model_dump(mode="json") == before  # the envelope keeps its sealed payload


def test_the_current_events_round_trip() -> None:
    assert [parse_event(_sealed(e), TEST_KEYRING) for e in CURRENT] == CURRENT


def _tampered(envelope: Envelope, change: Callable[[dict[str, Any]], None]) -> Envelope:
    data = envelope.model_dump(mode="json")
    change(data["payload"])
    return _wire(data)


def _swap_addresses(payload: dict[str, Any]) -> None:
    record = payload["record"]
    record["residence"]["address"], record["registration"]["address"] = (
        record["registration"]["address"],
        record["residence"]["address"],
    )


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(payload: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for name in parents:
            payload = payload[name]
        payload[last] = value

    return change


REFUSED = [
    _tampered(per_path(OUTFLOW, 3), _swap_addresses),  # a part moved to another context
    _tampered(per_path(OUTFLOW, 3), _set("record.person", "pf1.nokey.AAAA")),
    _tampered(_sealed(OUTFLOW), _set("sealed", "pf1.nokey.AAAA")),
    _tampered(_sealed(ISSUED), _set("person", {"name": "in clear"})),
    _tampered(_sealed(CORRECTED), _set("note", "not sealed")),
    _tampered(per_path(OUTFLOW, 3), _set("record.registration", "not a dict")),  # the path ends early: invalid
    _tampered(_sealed(ISSUED), _set("kind", "nope")),
    _tampered(_sealed(PLAIN), _set("extra", 1)),
]


@pytest.mark.parametrize("envelope", REFUSED, ids=lambda e: e.type)
def test_what_the_reference_refuses_is_refused_alike(envelope: Envelope) -> None:
    with pytest.raises(ValueError, match=r".") as expected:  # SealError and ValidationError alike
        _reference_parse(envelope, TEST_KEYRING)
    with pytest.raises(ValueError, match=r".") as refused:
        parse_event(envelope, TEST_KEYRING)
    assert type(refused.value) is type(expected.value)
    assert str(refused.value) == str(expected.value)


def test_sealed_parts_need_the_keyring_and_unknown_types_are_refused() -> None:
    with pytest.raises(SealedWithoutKeyring):
        parse_event(_sealed(ISSUED))
    assert parse_event(_older(ISSUED, 3)) == _reference_parse(_older(ISSUED, 3))  # in clear: no keyring needed
    unknown = _wire(_sealed(PLAIN).model_dump(mode="json") | {"type": "Nope"})
    with pytest.raises(UnknownEventType):
        parse_event(unknown, TEST_KEYRING)
    with pytest.raises(SealError):
        parse_event(_tampered(_sealed(ISSUED), _set("person", "pf1.test1.AAAA")), TEST_KEYRING)
