"""The review queue's pure rules: what an item keeps of its record and how a corrected code applies."""

from __future__ import annotations

import pytest

from services.routing.domain.review import UncorrectableItem, corrected_record, correction_problem, kept_record
from services.routing.entrypoints.http import ResolutionBody
from shared.directory import load_directory
from shared.events import CaseRecord, ReviewResolved
from tests.support.records import TONGDE, XINSHI, record


def full_record() -> CaseRecord:
    body = record(residence_street="440111999")
    body["person"]["phone"] = "13800000000"
    body["certificate"] = {"result": "missing", "checked_on": "2026-02-25"}
    body["employer"] = {"name": "白云五金厂"}
    return CaseRecord.model_validate(body)


def test_an_item_keeps_the_routing_fields_and_never_the_certificate_employer_or_phone() -> None:
    kept = kept_record(full_record())
    assert set(kept) == {"event", "person", "reporting_street", "residence", "registration", "observed_at"}
    assert set(kept["person"]) == {"id_number", "name"}


@pytest.mark.parametrize(
    ("field", "code", "read"),
    [
        ("residence.street", XINSHI, lambda r: r.residence.street),
        ("reporting_street", XINSHI, lambda r: r.reporting_street),
        ("registration.division", "440106", lambda r: r.registration.division),
        ("new_residence.street", XINSHI, lambda r: r.new_residence.street),
    ],
)
def test_a_corrected_code_lands_in_the_items_field(field: str, code: str, read: object) -> None:
    corrected = corrected_record(kept_record(full_record()), field=field, code=code)
    assert read(corrected) == code  # type: ignore[operator]
    assert corrected.person.id_number == full_record().person.id_number


def test_an_item_without_its_record_cannot_be_corrected() -> None:
    with pytest.raises(UncorrectableItem):
        corrected_record(None, field="residence.street", code=TONGDE)


@pytest.mark.parametrize(
    ("field", "code", "refused"),
    [
        ("residence.street", XINSHI, False),
        ("residence.street", "440111999", True),
        ("residence.street", "440111", True),  # a district is not a street
        ("registration.division", "430102", False),
        ("registration.division", TONGDE, False),
        ("name", TONGDE, True),
    ],
)
def test_a_correction_must_be_a_current_code_of_the_fields_level(field: str, code: str, refused: bool) -> None:
    assert (correction_problem(load_directory(), field=field, code=code) is not None) is refused


def test_the_resolution_event_carries_its_details() -> None:
    base = {"record_id": "r", "field": "residence.street", "resolved_by": "440111", "resolved_at": "2026-03-02T08:00Z"}
    with pytest.raises(ValueError, match="code"):
        ReviewResolved.model_validate(base | {"resolution": "corrected"})
    with pytest.raises(ValueError, match="reason"):
        ReviewResolved.model_validate(base | {"resolution": "dismissed"})
    with pytest.raises(ValueError, match="field"):
        ReviewResolved.model_validate(base | {"resolution": "dismissed", "reason": "x", "field": "name"})


@pytest.mark.parametrize("code", ["４４０１１１", "٤٤٠١١١", "44011１005"])  # full-width, Arabic-Indic, one of them
def test_a_corrected_code_is_written_in_ascii_digits_at_the_door_and_in_the_event(code: str) -> None:
    with pytest.raises(ValueError, match="pattern"):
        ResolutionBody.model_validate({"resolution": "corrected", "code": code})
    event = {"record_id": "r", "field": "residence.street", "resolved_by": "440111", "resolved_at": "2026-03-02T08:00Z"}
    with pytest.raises(ValueError, match="pattern"):
        ReviewResolved.model_validate(event | {"resolution": "corrected", "code": code})
    assert ResolutionBody.model_validate({"resolution": "corrected", "code": TONGDE}).code == TONGDE


def test_a_dismissal_reason_holding_a_nul_is_refused_at_the_door_and_in_the_event() -> None:
    """PostgreSQL's text refuses NUL (SQLSTATE 22021): accepted with a 202, the resolution was dead-lettered by
    routing's subscriber when it stored the reason, and the item stayed open without the bureau knowing why."""
    with pytest.raises(ValueError, match="pattern"):
        ResolutionBody.model_validate({"resolution": "dismissed", "reason": "duplicate\x00"})
    event = {"record_id": "r", "field": "residence.street", "resolved_by": "440111", "resolved_at": "2026-03-02T08:00Z"}
    with pytest.raises(ValueError, match="pattern"):
        ReviewResolved.model_validate(event | {"resolution": "dismissed", "reason": "duplicate\x00"})
    reason = "duplicate of another record;\nsee the street's list"
    assert ResolutionBody.model_validate({"resolution": "dismissed", "reason": reason}).reason == reason
    assert ReviewResolved.model_validate(event | {"resolution": "dismissed", "reason": reason}).reason == reason
