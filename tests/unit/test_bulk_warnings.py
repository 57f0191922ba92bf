"""A bulk row naming a retired division code is answered with the warnings a single POST's answer gives,
whether it is prepared in process or in a worker process (its Ready is pickled there and back); a row
naming none has no `warnings` at all."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any, cast

from services.intake.adapters.bulk_formats import Row
from services.intake.service_layer.bulk_import import BulkImport
from services.intake.service_layer.bulk_workers import RowIn, prepare_rows
from services.intake.service_layer.submissions import Outcome, Prepared, Ready, Submissions
from shared.auth import Principal, Role, parse_scope
from shared.directory import load_changes, load_directory
from tests.support.infra import TEST_KEYRING, TEST_ZONE
from tests.support.records import TONGDE, record

SHIQIAO, SHAWAN_TOWN, SHAWAN_STREET = "440113007", "440113118", "440113017"  # 沙湾镇, retired for 沙湾街道
SUBMITTER = Principal("k1", parse_scope("district:440113"), role=Role.SUBMITTER)


class StoredAsAccepted(Submissions):
    """The real rules, with every ready row taken as stored."""

    async def store_ready(self, batch: Sequence[Ready], *, outage_s: float = 0.0) -> list[Outcome]:
        return [Outcome("accepted", ready.new.record_id, "c1", 1) for ready in batch]


def submissions() -> StoredAsAccepted:
    changes = load_changes()
    return StoredAsAccepted(cast(Any, None), load_directory(), TEST_KEYRING, b"secret", changes=changes, zone=TEST_ZONE)


async def test_a_row_naming_a_retired_street_is_answered_with_its_warning_and_the_others_without() -> None:
    retired = record(reporting_street=SHIQIAO, residence_street=SHAWAN_TOWN)
    current = record(reporting_street=SHIQIAO, residence_street=SHIQIAO, sequence=14)
    run = BulkImport(submissions(), SUBMITTER, "file-1", {}, batch=10)
    [results] = [batch async for batch in run.results(iter([Row(2, retired), Row(3, current)]))]

    single = submissions().prepare(retired, SUBMITTER)
    assert isinstance(single, Prepared)
    first, second = results
    assert first["status"] == "accepted"
    assert first["warnings"] == list(single.warnings)  # the same words as a POST's answer
    (warning,) = first["warnings"]
    assert (warning["field"], warning["code"]) == ("residence.street", SHAWAN_TOWN)
    assert f"successor {SHAWAN_STREET}" in warning["note"]
    assert list(first) == ["row", "record_id", "status", "warnings"]  # added last: the answer's keys keep their order
    assert "warnings" not in second
    assert run.summary() == {"rows": 2, "accepted": 2, "duplicate": 0, "rejected": 0}


def test_a_worker_process_hands_the_warnings_back_with_its_row() -> None:
    admin = Principal("k0", parse_scope("admin"))
    rows: list[RowIn] = [(2, record(reporting_street=SHIQIAO, residence_street=SHAWAN_TOWN), None), (3, record(), None)]
    prepared = prepare_rows(submissions(), rows, admin, "file-1")
    [(_, retired), (_, current)] = pickle.loads(pickle.dumps(prepared))  # noqa: S301 - our own bytes, as a worker's
    assert isinstance(retired, Ready)
    assert isinstance(current, Ready)
    assert [w["code"] for w in retired.warnings] == [SHAWAN_TOWN]
    assert current.warnings == ()
    assert current.new.reporting_street == TONGDE
