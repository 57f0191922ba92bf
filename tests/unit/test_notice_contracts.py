"""NoticeIssued versions 2 (kind, exchange endpoint) and 3 (answer expected, due), and NoticeAnswered."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.events import Envelope, NoticeAnswered, NoticeIssued, NoticeKind, parse_event

# a NoticeIssued as the walking skeleton published it, before `kind` existed
V1_ENVELOPE = {
    "event_id": "1b7e3c1e-5a0c-5d9e-8a47-2f3c1d9e0a11",
    "type": "NoticeIssued",
    "version": 1,
    "occurred_at": "2027-02-24T02:31:00Z",
    "producer": "routing",
    "correlation_id": "5d1f2a3b-0c4d-4e5f-8a9b-0c1d2e3f4a5b",
    "payload": {
        "notice_id": "9a8b7c6d-5e4f-5a3b-9c2d-1e0f9a8b7c6d",
        "record_id": "5d1f2a3b-0c4d-4e5f-8a9b-0c1d2e3f4a5b",
        "recipient_code": "440111008",
        "route": "cross-street",
        "reason": "person lives in your street; please verify",
        "person": {"name": "张三", "id_number": "430102199003070124", "residence_address": "同德路 8 号"},
        "issued_at": "2027-02-24T02:31:00Z",
    },
}


def test_a_version_1_notice_is_upcast_to_a_transfer_within_the_deployment() -> None:
    notice = parse_event(Envelope.model_validate(V1_ENVELOPE))
    assert isinstance(notice, NoticeIssued)
    assert notice.kind is NoticeKind.TRANSFER
    assert notice.exchange_endpoint is None
    assert notice.recipient_code == "440111008"


def v2_envelope(kind: str, route: str, recipient: str) -> Envelope:
    """A NoticeIssued as routing published it before `answer_expected` existed."""
    payload = {**V1_ENVELOPE["payload"], "kind": kind, "route": route, "recipient_code": recipient}  # type: ignore[dict-item]
    return Envelope.model_validate({**V1_ENVELOPE, "version": 2, "payload": payload | {"exchange_endpoint": None}})


@pytest.mark.parametrize(
    ("kind", "route", "recipient", "expected"),
    [
        ("transfer", "cross-street", "440111008", True),
        ("transfer", "inter-district", "440111", False),
        ("forward", "inter-district", "440106", True),
        ("registration", "inter-district", "430102", False),
        ("reminder", "cross-street", "440111008", False),
    ],
)
def test_a_version_2_notice_is_upcast_with_the_answer_routing_awaited_and_no_due_time(
    kind: str, route: str, recipient: str, expected: bool
) -> None:
    notice = parse_event(v2_envelope(kind, route, recipient))
    assert isinstance(notice, NoticeIssued)
    assert (notice.answer_expected, notice.answer_due) == (expected, None)


def test_a_notice_carries_no_more_than_finds_the_person() -> None:
    person_fields = set(NoticeIssued.model_fields["person"].annotation.model_fields)  # type: ignore[union-attr]
    # the street code is where the person lives, at the granularity routing already decides on
    assert person_fields == {"name", "id_number", "residence_address", "residence_street"}


def _answer(**fields: object) -> NoticeAnswered:
    base: dict[str, object] = {
        "notice_id": "n1",
        "record_id": "r1",
        "answered_by": "440111008",
        "answered_at": datetime(2027, 2, 25, tzinfo=UTC),
    }
    return NoticeAnswered.model_validate(base | fields)


def test_answers_carry_what_their_result_needs() -> None:
    assert _answer(result="confirmed").corrections == {}
    assert _answer(result="corrected", corrections={"residence_address": "x"}).corrections
    assert _answer(result="rejected", reason="duplicate").reason == "duplicate"
    with pytest.raises(ValidationError, match="corrected fields"):
        _answer(result="corrected")
    with pytest.raises(ValidationError, match="reason code"):
        _answer(result="rejected")
    with pytest.raises(ValidationError):
        _answer(result="rejected", reason="not-a-reason")
