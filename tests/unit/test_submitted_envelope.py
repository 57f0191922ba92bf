"""Intake's RecordSubmitted envelope, built from the record's JSON, is the one new_envelope builds:
version 4, its person and addresses sealed together once."""

from __future__ import annotations

import pickle
import uuid
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, cast

import orjson

from services.intake.adapters.batch_items import NewRecord
from services.intake.service_layer.bulk_workers import RowIn, prepare_rows
from services.intake.service_layer.submissions import Prepared, Ready, Submissions, submitted_envelope
from shared.auth import Principal
from shared.auth.scopes import Scope, ScopeKind
from shared.directory import load_changes, load_directory
from shared.events import CaseRecord, Envelope, RecordSubmitted, new_envelope, parse_event
from shared.events.envelope import sealed_paths
from shared.sealing import is_sealed
from tests.support.infra import TEST_KEYRING, TEST_ZONE
from tests.support.records import record
from tests.support.sealed_events import CountingKeyring


def keys(value: Any) -> Any:
    """The keys of every object, in order, down the tree: the shape without the values."""
    if isinstance(value, dict):
        return [(key, keys(item)) for key, item in value.items()]
    return None


def test_the_envelope_from_json_equals_the_model_built_one() -> None:
    raw = record()
    raw["new_residence"] = {"street": "440111005", "address": "新港西路 1 号"}
    raw["event"] = "outflow"
    case_record = CaseRecord.model_validate(raw)
    received = datetime(2027, 2, 25, 2, 31, 7, 123456, tzinfo=UTC)
    item = NewRecord(str(uuid.uuid4()), "pk", "440111005", "440111005", {}, "sealed", received)
    case_id = str(uuid.uuid4())

    built = submitted_envelope(item, case_record.model_dump(mode="json"), case_id, 3, TEST_KEYRING)

    event = RecordSubmitted(
        record_id=item.record_id, received_at=received, record=case_record, case_id=case_id, case_version=3
    )
    expected = new_envelope(event, producer="intake", correlation_id=item.record_id, keyring=TEST_KEYRING)
    expected_json = expected.model_dump(mode="json")
    assert keys(built) == keys(expected_json)
    unsealed = {k: v for k, v in built.items() if k not in ("event_id", "occurred_at", "payload")}
    assert unsealed == {k: v for k, v in expected_json.items() if k not in ("event_id", "occurred_at", "payload")}
    assert built["payload"]["received_at"] == expected_json["payload"]["received_at"] == "2027-02-25T02:31:07.123456Z"
    assert built["occurred_at"] == built["payload"]["received_at"]  # submitted when received
    assert built["version"] == 4
    assert is_sealed(built["payload"]["sealed"])
    assert "person" not in built["payload"]["record"]
    assert [
        part for part in ("residence", "registration", "new_residence") if "address" in built["payload"]["record"][part]
    ] == []
    assert parse_event(Envelope.model_validate(built), TEST_KEYRING) == event


def test_a_bulk_workers_envelope_is_submitted_envelope_with_the_case_filled_in() -> None:
    submissions = Submissions(
        cast(Any, None), load_directory(), TEST_KEYRING, b"secret", changes=load_changes(), zone=TEST_ZONE
    )
    admin = Principal(key_id="k", scope=Scope(ScopeKind.ADMIN))
    prepared = submissions.prepare(record(), admin)
    assert isinstance(prepared, Prepared)
    assert prepared.record_json is not None
    case_id = str(uuid.uuid4())

    ready = submissions.ready(prepared)
    spliced = orjson.loads(orjson.dumps(ready.envelope(case_id, 12)))

    expected = submitted_envelope(prepared.new, prepared.record_json, case_id, 12, TEST_KEYRING)
    assert keys(spliced) == keys(expected)
    assert spliced["payload"]["case_id"] == case_id
    assert spliced["payload"]["case_version"] == 12
    same = ("type", "version", "producer", "correlation_id")
    assert {k: spliced[k] for k in same} == {k: expected[k] for k in same}
    opened = parse_event(Envelope.model_validate(spliced), TEST_KEYRING)
    assert opened == parse_event(Envelope.model_validate(expected), TEST_KEYRING)
    assert spliced["version"] == 4
    assert isinstance(opened, RecordSubmitted)
    assert (opened.record, opened.record_id, opened.received_at) == (
        prepared.record,
        prepared.new.record_id,
        prepared.new.received_at,
    )
    # a second case id and version from the same head: only those differ
    other = orjson.loads(orjson.dumps(ready.envelope("c-2", 1)))
    assert other["payload"] | {"case_id": case_id, "case_version": 12} == spliced["payload"]


def test_a_ready_row_comes_back_from_a_worker_process_whole() -> None:
    # Ready and NewRecord pickle as their fields in order (their own __reduce__): a field added
    # out of step with it would come back in another's place
    submissions = Submissions(
        cast(Any, None), load_directory(), TEST_KEYRING, b"secret", changes=load_changes(), zone=TEST_ZONE
    )
    admin = Principal(key_id="k", scope=Scope(ScopeKind.ADMIN))
    prepared = submissions.prepare(record(), admin, idempotency_key="import-7#12")
    assert isinstance(prepared, Prepared)
    ready = submissions.ready(prepared)
    new = ready.new
    assert new.idempotency_key is not None
    assert new.idempotency_key.endswith("import-7#12")
    assert new.fingerprint

    back = pickle.loads(pickle.dumps(ready))  # noqa: S301 - our own bytes, as between intake and its worker

    assert back == ready
    assert [getattr(back.new, f.name) for f in fields(NewRecord)] == [getattr(new, f.name) for f in fields(NewRecord)]
    assert orjson.dumps(back.envelope("c-1", 2)) == orjson.dumps(ready.envelope("c-1", 2))


def test_a_bulk_row_seals_its_envelope_once_and_a_consumer_opens_it_once() -> None:
    """Version 3 sealed the person and the two addresses of such a row each alone: three seals in the
    worker and three openings in every consumer, each costing about the same whatever its size."""
    keyring = CountingKeyring.of_tests()
    submissions = Submissions(
        cast(Any, None), load_directory(), keyring, b"secret", changes=load_changes(), zone=TEST_ZONE
    )
    admin = Principal(key_id="k", scope=Scope(ScopeKind.ADMIN))
    rows: list[RowIn] = [(n, record(sequence=n), None) for n in range(1, 4)]

    prepared = prepare_rows(submissions, rows, admin, "import-1")

    ready = [item for _, item in prepared if isinstance(item, Ready)]
    assert len(ready) == 3
    assert keyring.sealed["RecordSubmitted"] == 3  # one a row
    envelope = Envelope.model_validate_json(orjson.dumps(ready[0].envelope("c-1", 1)))
    opened = parse_event(envelope, keyring)
    assert keyring.opened["RecordSubmitted"] == 1
    # what each would have cost sealed in its place: three parts present (person, two addresses)
    record_json = opened.model_dump(mode="json")
    assert [path for path in sealed_paths(RecordSubmitted) if _at(record_json, path) is not None] == [
        "record.person",
        "record.residence.address",
        "record.registration.address",
    ]


def _at(payload: Any, path: str) -> Any:
    for name in path.split("."):
        payload = payload.get(name) if isinstance(payload, dict) else None
    return payload
