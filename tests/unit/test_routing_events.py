"""Routing writes its events' payloads as JSON directly: each equals what building the event
model and `new_envelope(...).model_dump(mode="json")` gave (the sealed person compared opened:
its nonce differs each time)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.routing.domain.cases import Case, CaseStatus
from services.routing.domain.ids import derived_id
from services.routing.domain.notices import PlannedNotice, plan
from services.routing.domain.recipients import ExchangeEndpoint, Recipient
from services.routing.domain.schedule import AnswerDeadlines
from services.routing.service_layer.context import notice_issued, record_routed
from shared.events import (
    Envelope,
    EventKind,
    NoticeIssued,
    NoticeKind,
    NoticePerson,
    RecordRouted,
    Route,
    new_envelope,
    parse_event,
)
from tests.support.infra import TEST_KEYRING
from tests.support.records import FURONG, TONGDE, WUSHAN, XINSHI, id_number

NOW = datetime(2027, 2, 26, 9, 30, 15, 250, tzinfo=UTC)  # a Friday: the due day falls after the weekend
OBSERVED = datetime.fromisoformat("2027-02-25T10:30:00+08:00")
DEADLINES = AnswerDeadlines()
CITY = ExchangeEndpoint("city-exchange", "https://exchange.example/city")


def _case(route: Route, street: str = XINSHI) -> Case:
    return Case(
        record_id=str(uuid.uuid4()),
        version=1,
        status=CaseStatus.OPEN,
        event=EventKind.NEW_INFLOW,
        route=route,
        reporting_street=TONGDE,
        residence_street=street,
        residence_address="新市路 3 号 2 栋 101",
        registration_division=FURONG,
        registration_address="长沙市芙蓉区五一大道 1 号",
        name="张三",
        id_number=id_number(sequence=12),
    )


CASES = [_case(Route.CROSS_STREET), _case(Route.SAME_DISTRICT, TONGDE), _case(Route.INTER_DISTRICT, WUSHAN)]


def _notices(case: Case) -> list[PlannedNotice]:
    def planned(kind: NoticeKind, recipient: Recipient, awaits_answer: bool) -> PlannedNotice:
        return plan(
            record_id=case.record_id,
            case_version=case.version,
            kind=kind,
            recipient=recipient,
            sender=case.reporting_street,
            reason=f"{kind.value}: lives in the recipient's area",
            awaits_answer=awaits_answer,
        )

    return [
        planned(NoticeKind.TRANSFER, Recipient(case.residence_street), True),
        planned(NoticeKind.FORWARD, Recipient("440106", CITY), True),
        planned(NoticeKind.REGISTRATION, Recipient(FURONG, CITY), False),
    ]


def _model_notice(notice: PlannedNotice, case: Case) -> dict[str, Any]:
    event = NoticeIssued(
        notice_id=notice.notice_id,
        record_id=case.record_id,
        recipient_code=notice.recipient.code,
        route=case.route,
        reason=notice.reason,
        person=NoticePerson(
            name=case.name,
            id_number=case.id_number,
            residence_address=case.residence_address,
            residence_street=case.residence_street,
        ),
        issued_at=NOW,
        kind=notice.kind,
        exchange_endpoint=notice.recipient.endpoint.name if notice.recipient.endpoint else None,
        answer_expected=notice.awaits_answer,
        answer_due=DEADLINES.due(NOW) if notice.awaits_answer else None,
    )
    event_id = uuid.UUID(derived_id(notice.notice_id, NoticeIssued.TYPE))
    envelope = new_envelope(
        event, producer="routing", correlation_id=case.record_id, event_id=event_id, keyring=TEST_KEYRING
    )
    return envelope.model_dump(mode="json")


@pytest.mark.parametrize("case", CASES, ids=lambda c: str(c.route))
def test_notice_issued_is_the_models_envelope(case: Case) -> None:
    for notice in _notices(case):
        body = notice_issued(notice, case, key="k", now=NOW, deadlines=DEADLINES, keyring=TEST_KEYRING).body
        expected = _model_notice(notice, case)
        assert _without_person(body) == _without_person(expected)
        assert body["occurred_at"] == expected["payload"]["issued_at"]  # issued at the batch's `now`
        assert list(body["payload"]) == list(expected["payload"])  # the same fields, in the same order
        assert str(body["payload"]["person"]).startswith("pf1.")
        opened = parse_event(Envelope.model_validate(body), TEST_KEYRING)
        assert opened == parse_event(Envelope.model_validate(expected), TEST_KEYRING)
        assert isinstance(opened, NoticeIssued)


@pytest.mark.parametrize("case", CASES, ids=lambda c: str(c.route))
def test_record_routed_is_the_models_envelope(case: Case) -> None:
    cause = new_envelope(
        RecordRouted(
            record_id="r",
            route=Route.SAME_DISTRICT,
            reporting_street=TONGDE,
            residence_street=TONGDE,
            observed_at=NOW,
            decided_at=NOW,
        ),
        producer="test",
        correlation_id="r",
    )
    body = record_routed(case, cause=cause, observed_at=OBSERVED, key="k", now=NOW).body
    event = RecordRouted(
        record_id=case.record_id,
        route=case.route,
        reporting_street=case.reporting_street,
        residence_street=case.residence_street,
        observed_at=OBSERVED,
        decided_at=NOW,
    )
    expected = new_envelope(
        event,
        producer="routing",
        correlation_id=case.record_id,
        event_id=uuid.UUID(derived_id(cause.event_id, RecordRouted.TYPE)),
        occurred_at=NOW,  # decided at the batch's `now`, and so it happened
    ).model_dump(mode="json")
    assert body == expected
    assert list(body["payload"]) == list(expected["payload"])


def _without_person(body: dict[str, Any]) -> dict[str, Any]:
    # the model's envelope was built at another moment: occurred_at is compared on its own
    payload = {k: v for k, v in body["payload"].items() if k != "person"}
    return {k: v for k, v in body.items() if k not in ("payload", "occurred_at")} | {"payload": payload}
