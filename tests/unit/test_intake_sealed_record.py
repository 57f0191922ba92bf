"""Intake's stored record keeps its addresses and employer sealed, each bound to its record and path,
and every read opens them back to the record as submitted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import orjson
import pytest

from services.intake.adapters.sealed import SEALED_PATHS, open_record, seal_record
from services.intake.adapters.tables import RecordRow
from services.intake.service_layer.reads import UnopenedRecord, present
from services.intake.service_layer.submissions import Prepared, Submissions
from shared.auth import Principal, parse_scope
from shared.directory import load_changes, load_directory
from shared.events import RecordSubmitted
from shared.sealing import SealError, is_sealed
from tests.support.infra import TEST_KEYRING, TEST_ZONE
from tests.support.records import credit_code, full_record

ADMIN = Principal("k1", parse_scope("admin"))
SOLE_TRADER = credit_code("92440111MA5ABCDE1")  # 个体工商户: registered to one person
COMPANY = credit_code()  # 91...: an enterprise


def outflow(employer_code: str = SOLE_TRADER) -> dict[str, Any]:
    body = full_record(sequence=24, name="孙八")
    body.update(event="outflow", new_residence={"street": "440111008", "address": "新港西路 1 号 2 栋"})
    body["employer"] = {"name": "孙八五金店", "credit_code": employer_code}
    return body


def prepared(body: dict[str, Any]) -> Prepared:
    submissions = Submissions(
        cast(Any, None), load_directory(), TEST_KEYRING, b"secret", changes=load_changes(), zone=TEST_ZONE
    )
    result = submissions.prepare(body, ADMIN)
    assert isinstance(result, Prepared), result
    return result


def row_of(item: Prepared) -> RecordRow:
    new = item.new
    return RecordRow(
        record_id=new.record_id,
        person_key=new.person_key,
        reporting_street=new.reporting_street,
        residence_street=new.residence_street,
        record=new.record,
        received_at=datetime(2026, 2, 25, tzinfo=UTC),
        person_sealed=new.person_sealed,
    )


def test_the_row_seals_every_address_the_event_seals() -> None:
    on_the_wire = {path.removeprefix("record.") for path in RecordSubmitted.SEALED} - {"person", "employer"}
    assert on_the_wire <= set(SEALED_PATHS)
    # the event seals the employer whole; the row its name, and the credit code of an individual business
    assert {"employer.name", "employer.credit_code"} <= set(SEALED_PATHS)


def test_the_stored_body_holds_no_address_or_employer_in_clear() -> None:
    body = outflow()
    item = prepared(body)
    stored = orjson.dumps(item.new.record).decode()
    for clear in (
        body["residence"]["address"],
        body["registration"]["address"],
        body["new_residence"]["address"],
        body["employer"]["name"],
        SOLE_TRADER,
    ):
        assert clear not in stored
    for path in SEALED_PATHS:
        part, name = path.split(".")
        assert is_sealed(item.new.record[part][name]), path
    # the rest as submitted: codes, dates, the certificate
    assert item.new.record["residence"]["street"] == body["residence"]["street"]
    assert item.new.record["certificate"] == body["certificate"]


def test_an_enterprises_credit_code_stays_in_clear() -> None:
    item = prepared(outflow(COMPANY))
    assert item.new.record["employer"]["credit_code"] == COMPANY
    assert is_sealed(item.new.record["employer"]["name"])


@pytest.mark.parametrize("code", [SOLE_TRADER, COMPANY])
def test_a_read_answers_the_record_as_submitted(code: str) -> None:
    item = prepared(outflow(code))
    assert present(row_of(item), TEST_KEYRING)["record"] == item.record_json


def test_a_record_without_the_optional_parts_is_read_as_submitted() -> None:
    item = prepared(
        {k: v for k, v in outflow().items() if k not in ("employer", "new_residence")} | {"event": "new_inflow"}
    )
    assert item.new.record["employer"] is item.new.record["new_residence"] is None
    assert present(row_of(item), TEST_KEYRING)["record"] == item.record_json


def test_a_sealed_part_opens_only_in_its_own_record_and_path() -> None:
    body = {"residence": {"address": "同德路 8 号"}, "registration": {"address": "五一大道 1 号"}}
    sealed = seal_record(body, "r-1", TEST_KEYRING)
    assert open_record(sealed, "r-1", TEST_KEYRING) == body
    with pytest.raises(SealError):
        open_record(sealed, "r-2", TEST_KEYRING)
    swapped = {"residence": sealed["registration"], "registration": sealed["residence"]}
    with pytest.raises(SealError):
        open_record(swapped, "r-1", TEST_KEYRING)


def tampered(token: str) -> str:
    return token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")


def test_an_address_that_does_not_open_fails_the_read_as_a_person_that_does_not_open() -> None:
    """A person seal that does not open raises UnopenedRecord out of `present`, naming the record and the key
    id and no value (the routes answer it as a 503 for the operator); a sealed part of the record that does
    not open does the same."""
    row = row_of(prepared(outflow()))
    broken_person = row.model_copy(update={"person_sealed": tampered(row.person_sealed or "")})
    record = dict(row.record)
    record["residence"] = record["residence"] | {"address": tampered(record["residence"]["address"])}
    broken_address = row.model_copy(update={"record": record})
    for broken in (broken_person, broken_address):
        with pytest.raises(UnopenedRecord) as raised:
            present(broken, TEST_KEYRING)
        assert (raised.value.record_id, raised.value.key_id) == (row.record_id, "test1")
        assert "同德" not in str(raised.value)
