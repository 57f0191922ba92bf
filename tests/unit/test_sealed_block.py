"""RecordSubmitted version 4: the present sealed parts travel as one block, sealed once, bound to the
event id; older versions (in clear, each part sealed in its place) still parse.

A block version refuses what no producer of it writes: a part in clear where it belongs in the block
(it would pass for what the producer sealed), a payload without its block, a block holding a part the
contract does not seal or one with no place in the payload.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
import pytest

from services.intake.adapters.batch_items import NewRecord
from services.intake.service_layer.submissions import submitted_envelope
from shared.events import CaseRecord, Envelope, Event, RecordSubmitted, envelope_json, new_envelope, parse_event
from shared.events.envelope import REGISTRY, SealedWithoutKeyring, register, sealed_paths
from shared.events.sealed_parts import SealedBlockRefused
from shared.sealing import SealError
from tests.support.infra import TEST_KEYRING
from tests.support.records import WUSHAN, full_record, record
from tests.support.sealed_events import CountingKeyring, per_path

AT = datetime(2027, 3, 1, 2, tzinfo=UTC)
PLAIN = RecordSubmitted(record_id="r-plain", received_at=AT, record=CaseRecord.model_validate(record()))
FULL = RecordSubmitted(
    record_id="r-full",
    received_at=AT,
    record=CaseRecord.model_validate(
        full_record(event="outflow") | {"new_residence": {"street": WUSHAN, "address": "天河路 2 号"}}
    ),
    case_id="c1",
    case_version=2,
)


def _wire(event: Event, event_id: uuid.UUID | None = None) -> dict[str, Any]:
    return envelope_json(event, producer="intake", correlation_id="r1", event_id=event_id, keyring=TEST_KEYRING)


def _parsed(wire: dict[str, Any], keyring: Any = TEST_KEYRING) -> Event:
    return parse_event(Envelope.model_validate_json(orjson.dumps(wire)), keyring)


def _context(wire: dict[str, Any]) -> str:
    return f"RecordSubmitted/{wire['event_id']}/sealed"


def _block(wire: dict[str, Any]) -> Any:
    return TEST_KEYRING.open(wire["payload"]["sealed"], context=_context(wire))


def _resealed(wire: dict[str, Any], parts: Any) -> dict[str, Any]:
    """`wire` with another block, sealed for its own event id: what only a holder of the key could write."""
    payload = wire["payload"] | {"sealed": TEST_KEYRING.seal(parts, context=_context(wire))}
    return wire | {"payload": payload}


def _at(payload: Any, path: str) -> Any:
    for name in path.split("."):
        payload = payload.get(name) if isinstance(payload, dict) else None
    return payload


def _with(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `payload` with `value` at `path` (its parents there already)."""
    head, _, rest = path.partition(".")
    return payload | {head: _with(payload[head], rest, value) if rest else value}


@pytest.mark.parametrize("event", [PLAIN, FULL], ids=["three parts", "five parts"])
def test_every_present_part_travels_in_the_one_block_and_comes_back(event: RecordSubmitted) -> None:
    wire = _wire(event)
    present = [path for path in RecordSubmitted.SEALED if _at(event.model_dump(mode="json"), path) is not None]

    assert wire["version"] == 4
    assert sorted(_block(wire)) == sorted(present)
    assert [path for path in RecordSubmitted.SEALED if _at(wire["payload"], path) is not None] == []
    assert event.record.person.id_number not in orjson.dumps(wire).decode()
    assert event.record.person.name not in orjson.dumps(wire).decode()
    # first, so the payload still ends with the case intake splices in
    assert next(iter(wire["payload"])) == "sealed"
    assert list(wire["payload"])[-2:] == ["case_id", "case_version"]
    assert _parsed(wire) == event


def test_null_parts_stay_null_in_their_places_and_out_of_the_block() -> None:
    wire = _wire(PLAIN)
    assert (wire["payload"]["record"]["employer"], wire["payload"]["record"]["new_residence"]) == (None, None)
    assert "record.employer" not in _block(wire)
    assert _parsed(wire) == PLAIN


@pytest.mark.parametrize("version", [1, 2, 3])
def test_the_versions_before_the_block_still_parse(version: int) -> None:
    """Version 1 in clear, 2 and 3 each part sealed in its place (3 the employer too): outbox rows and
    topics written before the upgrade."""
    envelope = per_path(FULL, version)
    assert envelope.version == version
    assert "sealed" not in envelope.payload
    assert parse_event(envelope, TEST_KEYRING) == FULL


def test_a_block_copied_into_another_event_does_not_open() -> None:
    first, second = _wire(FULL), _wire(FULL)
    moved = second | {"payload": second["payload"] | {"sealed": first["payload"]["sealed"]}}
    with pytest.raises(SealError):
        _parsed(moved)


def test_a_part_sealed_alone_does_not_open_as_a_block() -> None:
    wire = _wire(FULL)
    alone = TEST_KEYRING.seal(_block(wire), context=f"RecordSubmitted/{wire['event_id']}/record.person")
    with pytest.raises(SealError):
        _parsed(wire | {"payload": wire["payload"] | {"sealed": alone}})


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("record.person", {"id_number": FULL.record.person.id_number, "name": "冒名顶替"}),  # beside its block copy
        ("record.employer", {"name": "冒名顶替"}),  # PLAIN's block has none: nothing would overwrite it
        ("record.residence.address", "冒名顶替"),
    ],
)
def test_a_part_in_clear_beside_the_block_is_refused(path: str, value: Any) -> None:
    for event in (FULL, PLAIN):
        wire = _wire(event)
        forged = wire | {"payload": _with(wire["payload"], path, value)}
        with pytest.raises(SealedBlockRefused, match=path.replace(".", r"\.")) as refused:
            _parsed(forged)
        assert "冒名顶替" not in str(refused.value)
        assert FULL.record.person.id_number not in str(refused.value)


def test_a_payload_of_the_block_version_without_its_block_is_refused() -> None:
    in_clear = {"event_id": str(uuid.uuid4())} | _wire(PLAIN) | {"payload": PLAIN.model_dump(mode="json")}
    with pytest.raises(SealedBlockRefused, match="no sealed block"):
        _parsed(in_clear)
    each_in_its_place = per_path(PLAIN, 3).model_dump(mode="json") | {"version": 4}
    with pytest.raises(SealedBlockRefused, match="no sealed block"):
        _parsed(each_in_its_place)


def test_a_block_in_a_version_before_the_block_is_refused() -> None:
    """An older version knows no `sealed` field: the payload is invalid, not opened."""
    wire = _wire(PLAIN)
    with pytest.raises(ValueError, match="sealed"):
        _parsed(wire | {"version": 3})


def test_a_block_holding_a_part_the_contract_does_not_seal_is_refused() -> None:
    wire = _wire(PLAIN)
    for stray in ("record.person.phone", "record.reporting_street", "record.note"):
        with pytest.raises(SealedBlockRefused, match="not one of its sealed paths") as refused:
            _parsed(_resealed(wire, _block(wire) | {stray: "13800138000"}))
        assert "13800138000" not in str(refused.value)


def test_a_block_holding_a_part_with_no_place_in_the_payload_is_refused() -> None:
    """PLAIN has no new residence: an address for it would be dropped unseen."""
    wire = _wire(PLAIN)
    with pytest.raises(SealedBlockRefused, match="whose place the payload does not have"):
        _parsed(_resealed(wire, _block(wire) | {"record.new_residence.address": "天河路 2 号"}))


def test_a_block_that_holds_no_object_of_parts_is_refused() -> None:
    wire = _wire(PLAIN)
    with pytest.raises(SealedBlockRefused, match="no object of parts"):
        _parsed(_resealed(wire, list(_block(wire).values())))


def test_a_block_needs_the_keyring() -> None:
    with pytest.raises(SealedWithoutKeyring):
        _parsed(_wire(PLAIN), keyring=None)


def test_every_writer_seals_a_record_once_and_a_reader_opens_it_once() -> None:
    """Each seal and opening costs about the same whatever its size: three parts were three of each."""
    keyring = CountingKeyring.of_tests()
    item = NewRecord("r-plain", "pk", PLAIN.record.reporting_street, PLAIN.record.residence.street, {}, "s", AT)
    written = [
        new_envelope(PLAIN, producer="intake", correlation_id="r1", keyring=keyring).model_dump(mode="json"),
        envelope_json(PLAIN, producer="intake", correlation_id="r1", keyring=keyring),
        submitted_envelope(item, PLAIN.record.model_dump(mode="json"), "c1", 1, keyring),
    ]
    assert keyring.sealed["RecordSubmitted"] == len(written)
    for wire in written:
        _parsed(wire, keyring)
    assert keyring.opened["RecordSubmitted"] == len(written)

    keyring.opened.clear()
    parse_event(per_path(PLAIN, 3), keyring)  # as version 3 carried it
    assert keyring.opened["RecordSubmitted"] == len(sealed_paths(RecordSubmitted, 3)) - 2  # no employer, no outflow


def test_no_class_that_seals_together_may_name_a_field_after_the_block() -> None:
    class Clashing(Event):
        TYPE: ClassVar[str] = "Clashing"
        VERSION: ClassVar[int] = 1
        TOPIC: ClassVar[str] = "test"
        SEALED: ClassVar[tuple[str, ...]] = ("note",)
        SEALED_TOGETHER_SINCE: ClassVar[int | None] = 1

        sealed: str
        note: str

    with pytest.raises(TypeError, match="sealed"):
        register(Clashing)
    assert "Clashing" not in REGISTRY
