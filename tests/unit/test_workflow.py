"""The exchange workflow over real codes: which notices each step causes, to whom."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from services.routing.domain.cases import Case, CaseStatus, InvalidAnswer, Outflow, current_residence, outflow_of
from services.routing.domain.notices import NOTICE_NAMESPACE, PlannedNotice
from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.domain.routes import decide_route
from services.routing.domain.workflow import Step, answer, follow_up_notice, open_case
from shared.directory import load_directory
from shared.events import CaseRecord, EventKind, NoticeKind
from tests.support.cases import reply, routing_case
from tests.support.records import id_number

CITY = ExchangeEndpoint("guangzhou-city-exchange", "https://gz")
NATIONAL = ExchangeEndpoint("national-exchange", "https://cn")
RECIPIENTS = Recipients.of(["440111"], ExchangeTable(by_prefix={"4401": CITY}, default=NATIONAL))
TONGDE, XINSHI, WUSHAN = "440111005", "440111008", "440106001"


def case(residence: str = XINSHI, *, registration: str = "430102", event: EventKind = EventKind.NEW_INFLOW) -> Case:
    return routing_case(
        residence, status=CaseStatus.FILED, registration=registration, event=event, address="同德路 8 号"
    )


def sent(step: Step) -> list[tuple[NoticeKind, str, str | None]]:
    return [
        (n.kind, n.recipient.code, n.recipient.endpoint.name if n.recipient.endpoint else None) for n in step.notices
    ]


def answered(c: Case, notice: PlannedNotice, result: str, **fields: object) -> Step:
    return answer(c, notice, reply(notice, result, **fields), RECIPIENTS, load_directory())


def test_same_street_is_filed_without_notice() -> None:
    step = open_case(case(TONGDE), RECIPIENTS)
    assert step.notices == []
    assert step.case.status is CaseStatus.FILED


def test_cross_street_notifies_the_residence_street() -> None:
    step = open_case(case(XINSHI), RECIPIENTS)
    assert sent(step) == [(NoticeKind.TRANSFER, XINSHI, None)]
    assert step.notices[0].sender == TONGDE
    assert step.case.status is CaseStatus.OPEN


@pytest.mark.parametrize(
    ("residence", "bureau", "endpoint"),
    [(WUSHAN, "440106", "guangzhou-city-exchange"), ("310115005", "310115", "national-exchange")],
)
def test_inter_district_goes_through_both_bureaus(residence: str, bureau: str, endpoint: str) -> None:
    step = open_case(case(residence), RECIPIENTS)
    assert sent(step) == [(NoticeKind.TRANSFER, "440111", None), (NoticeKind.FORWARD, bureau, endpoint)]
    # the reporting bureau is informed; the residence bureau is the one asked to verify (and reminded)
    assert [n.awaits_answer for n in step.notices] == [False, True]


CITY_DEPLOYMENT = dataclasses.replace(RECIPIENTS, served_districts=frozenset({"440111", "440106"}))


def test_a_served_residence_district_is_reached_directly_at_its_street() -> None:
    step = open_case(case(WUSHAN), CITY_DEPLOYMENT)
    # no forward between two bureaus of one deployment: the street verifies, the reporting bureau is told
    assert sent(step) == [(NoticeKind.TRANSFER, "440111", None), (NoticeKind.TRANSFER, WUSHAN, None)]
    assert [n.awaits_answer for n in step.notices] == [False, True]
    assert step.case.status is CaseStatus.OPEN


def test_a_served_residence_streets_answer_is_relayed_to_the_reporting_bureau() -> None:
    opened = open_case(case(WUSHAN), CITY_DEPLOYMENT)
    step = answer(
        opened.case, opened.notices[1], reply(opened.notices[1], "confirmed"), CITY_DEPLOYMENT, load_directory()
    )
    assert step.case.status is CaseStatus.CONFIRMED
    assert sent(step) == [
        (NoticeKind.FEEDBACK, "440111", None),
        (NoticeKind.REGISTRATION, "430102", "national-exchange"),
    ]


def test_a_cross_street_answer_is_not_relayed() -> None:
    opened = open_case(case(XINSHI), CITY_DEPLOYMENT)
    step = answer(
        opened.case, opened.notices[0], reply(opened.notices[0], "confirmed"), CITY_DEPLOYMENT, load_directory()
    )
    assert sent(step) == [(NoticeKind.REGISTRATION, "430102", "national-exchange")]


def test_confirmed_inter_district_relays_back_and_informs_the_registration_place() -> None:
    opened = open_case(case(WUSHAN), RECIPIENTS)
    step = answered(opened.case, opened.notices[1], "confirmed")
    assert step.case.status is CaseStatus.CONFIRMED
    assert sent(step) == [
        (NoticeKind.FEEDBACK, "440111", None),
        (NoticeKind.REGISTRATION, "430102", "national-exchange"),
    ]


@pytest.mark.parametrize("registration", ["440111", XINSHI], ids=["the-district", "the-street-itself"])
def test_no_registration_notice_when_the_residence_lies_within_the_registration_place(registration: str) -> None:
    opened = open_case(case(XINSHI, registration=registration), RECIPIENTS)
    assert answered(opened.case, opened.notices[0], "confirmed").notices == []


def test_a_registration_street_of_the_residence_district_is_told_like_any_other() -> None:
    """DOMAIN.md: the registration place is informed "wherever it is". A person registered in Tongde and
    verified living in Xinshi, the next street of the same district: Tongde hears of it."""
    opened = open_case(case(XINSHI, registration=TONGDE), RECIPIENTS)
    step = answered(opened.case, opened.notices[0], "confirmed")
    assert sent(step) == [(NoticeKind.REGISTRATION, TONGDE, None)]
    assert step.notices[0].sender == "440111"


def test_a_corrected_residence_street_is_routed_again_as_a_new_version() -> None:
    opened = open_case(case(XINSHI), RECIPIENTS)
    step = answered(opened.case, opened.notices[0], "corrected", corrections={"residence_street": WUSHAN})
    assert step.case.version == 2
    assert step.routed
    assert sent(step) == [
        (NoticeKind.TRANSFER, "440111", None),
        (NoticeKind.FORWARD, "440106", "guangzhou-city-exchange"),
    ]
    assert {n.case_version for n in step.notices} == {2}


def test_a_corrected_address_is_a_new_version_without_notices() -> None:
    opened = open_case(case(XINSHI), RECIPIENTS)
    step = answered(opened.case, opened.notices[0], "corrected", corrections={"residence_address": "新市路 1 号"})
    assert (step.case.version, step.case.residence_address, step.notices) == (2, "新市路 1 号", [])


# fields that are not correctable never reach the workflow: the contract refuses them (test_contract_bounds.py)
@pytest.mark.parametrize("corrections", [{"residence_street": "440111999"}])
def test_corrections_that_can_never_apply_are_refused(corrections: dict[str, str]) -> None:
    opened = open_case(case(XINSHI), RECIPIENTS)
    with pytest.raises(InvalidAnswer):
        answered(opened.case, opened.notices[0], "corrected", corrections=corrections)


def test_not_found_asks_the_reporting_street_to_recheck() -> None:
    opened = open_case(case(XINSHI), RECIPIENTS)
    step = answered(opened.case, opened.notices[0], "not_found")
    assert step.case.status is CaseStatus.NOT_FOUND
    assert sent(step) == [(NoticeKind.RECHECK, TONGDE, None)]


def test_rejected_tells_the_sender_with_the_reason() -> None:
    opened = open_case(case(WUSHAN), RECIPIENTS)
    step = answered(opened.case, opened.notices[1], "rejected", reason="person_left")
    assert step.case.status is CaseStatus.REJECTED
    assert sent(step) == [(NoticeKind.REJECTION, "440111", None)]
    assert "person_left" in step.notices[0].reason


def test_a_change_notifies_the_registration_place_and_another_residence_street() -> None:
    assert sent(open_case(case(XINSHI, event=EventKind.CHANGE), RECIPIENTS)) == [
        (NoticeKind.CHANGE, "430102", "national-exchange"),
        (NoticeKind.CHANGE, XINSHI, None),
    ]
    assert sent(open_case(case(TONGDE, event=EventKind.CHANGE), RECIPIENTS)) == [
        (NoticeKind.CHANGE, "430102", "national-exchange")
    ]


def test_an_outflow_is_marked_routed_from_the_new_residence_and_told_to_the_registration_place() -> None:
    step = open_case(case(WUSHAN, event=EventKind.OUTFLOW), RECIPIENTS, Outflow(TONGDE, WUSHAN))
    assert step.case.status is CaseStatus.INFLOW_THEN_OUTFLOW
    assert sent(step) == [
        (NoticeKind.TRANSFER, "440111", None),
        (NoticeKind.FORWARD, "440106", "guangzhou-city-exchange"),
        (NoticeKind.REGISTRATION, "430102", "national-exchange"),
    ]
    assert [n.awaits_answer for n in step.notices] == [False, True, False]
    to_another_street = open_case(case(XINSHI, event=EventKind.OUTFLOW), RECIPIENTS, Outflow(TONGDE, XINSHI))
    assert sent(to_another_street) == [
        (NoticeKind.TRANSFER, XINSHI, None),
        (NoticeKind.REGISTRATION, "430102", "national-exchange"),
    ]
    unknown_destination = open_case(case(TONGDE, event=EventKind.OUTFLOW), RECIPIENTS, Outflow(TONGDE))
    assert unknown_destination.case.status is CaseStatus.INFLOW_THEN_OUTFLOW
    assert sent(unknown_destination) == [(NoticeKind.REGISTRATION, "430102", "national-exchange")]
    assert "unknown place" in unknown_destination.notices[0].reason


def outflow_record(new_residence: dict[str, str] | None) -> CaseRecord:
    return CaseRecord.model_validate(
        {
            "event": "outflow",
            "person": {"id_number": id_number(), "name": "张三"},
            "reporting_street": TONGDE,
            "residence": {"street": TONGDE, "address": "同德路 8 号"},
            "registration": {"division": "430102"},
            "observed_at": "2027-02-25T10:30:00+08:00",
            "new_residence": new_residence,
        }
    )


@pytest.mark.parametrize(
    ("new_residence", "expected"),
    [
        ({"street": XINSHI, "address": "新市路 1 号"}, (XINSHI, "新市路 1 号")),
        ({"street": XINSHI}, (XINSHI, "")),
        ({"address": "somewhere"}, (TONGDE, "同德路 8 号")),
        (None, (TONGDE, "同德路 8 号")),
    ],
)
def test_an_outflow_case_lives_at_the_new_residence_when_its_street_is_known(
    new_residence: dict[str, str] | None, expected: tuple[str, str]
) -> None:
    record = outflow_record(new_residence)
    assert current_residence(record) == expected
    opened = Case.from_record("r1", record, decide_route(reporting_street=TONGDE, residence_street=expected[0]))
    assert (opened.residence_street, opened.residence_address) == expected


def test_reminders_go_to_the_recipient_and_escalations_to_the_reporting_bureau() -> None:
    opened = open_case(case(WUSHAN), RECIPIENTS)
    forward = opened.notices[1]
    reminder = follow_up_notice(opened.case, forward, NoticeKind.REMINDER, RECIPIENTS)
    escalation = follow_up_notice(opened.case, forward, NoticeKind.ESCALATION, RECIPIENTS)
    assert (reminder.recipient, reminder.kind) == (forward.recipient, NoticeKind.REMINDER)
    assert (escalation.recipient.code, escalation.recipient.endpoint) == ("440111", None)


def test_notice_ids_are_stable_per_version_recipient_and_kind() -> None:
    first, again = open_case(case(XINSHI), RECIPIENTS), open_case(case(XINSHI), RECIPIENTS)
    assert [n.notice_id for n in first.notices] == [n.notice_id for n in again.notices]
    corrected = answered(first.case, first.notices[0], "corrected", corrections={"residence_street": "440111002"})
    assert corrected.notices[0].notice_id != first.notices[0].notice_id


def test_an_answer_leaves_a_case_marked_gone_as_it_is_and_still_has_its_notices() -> None:
    """A later outflow of the person marked the case gone before its answer was read (a rebuild reads
    every record first): the answer must not bring it back to `confirmed`, nor hold back its notices."""
    opened = open_case(case(WUSHAN), RECIPIENTS)
    gone = opened.case.with_status(CaseStatus.INFLOW_THEN_OUTFLOW)
    for result, fields in (
        ("confirmed", {}),
        ("not_found", {}),
        ("corrected", {"corrections": {"residence_address": "新市路 2 号"}}),
    ):
        before, after = (
            answered(opened.case, opened.notices[1], result, **fields),
            answered(gone, opened.notices[1], result, **fields),
        )
        assert after.case.status is CaseStatus.INFLOW_THEN_OUTFLOW, result
        assert after.case.version == before.case.version
        assert after.notices == before.notices


def test_an_outflows_verification_has_an_id_of_its_own_and_every_other_notice_the_same_as_ever() -> None:
    """The registration place of an outflow hears of the move, then of the verification: two notices of the
    same case version, recipient and kind, which must not share an id. Every other notice keeps the id
    derived from its (record, version, recipient, kind) alone: stored notices and redeliveries rely on it."""

    def triple_id(n: PlannedNotice) -> str:
        return str(uuid.uuid5(NOTICE_NAMESPACE, f"{n.record_id}/{n.case_version}/{n.recipient.code}/{n.kind.value}"))

    moved = open_case(case(XINSHI, event=EventKind.OUTFLOW), RECIPIENTS, Outflow(TONGDE, XINSHI))
    verified = answered(moved.case, moved.notices[0], "confirmed")
    assert [n.kind for n in verified.notices] == [NoticeKind.REGISTRATION]
    assert verified.notices[0].notice_id != moved.notices[1].notice_id
    assert [triple_id(n) == n.notice_id for n in moved.notices] == [True, True]

    inflow = open_case(case(WUSHAN), RECIPIENTS)
    corrected = answered(moved.case, moved.notices[0], "corrected", corrections={"residence_address": "新市路 2 号"})
    for step in (
        inflow,
        answered(inflow.case, inflow.notices[1], "confirmed"),
        answered(corrected.case, moved.notices[0], "confirmed"),  # version 2: the move was told at version 1
    ):
        assert step.notices
        assert all(triple_id(n) == n.notice_id for n in step.notices)


def test_each_rejection_to_one_sender_at_one_version_has_an_id_of_its_own() -> None:
    """The first keeps the id every rejection had; a second names the rejecting office, a third numbers it.
    Which one a rejection is follows from the ids the case holds (`issued`), so a rebuild derives the same."""
    moved = open_case(case(XINSHI, event=EventKind.OUTFLOW), RECIPIENTS, Outflow(TONGDE, XINSHI))
    transfer = moved.notices[0]

    def rejection(issued: set[str]) -> PlannedNotice:
        step = answer(
            moved.case,
            transfer,
            reply(transfer, "rejected", reason="wrong_recipient"),
            RECIPIENTS,
            load_directory(),
            issued=frozenset(issued),
        )
        [notice] = step.notices
        return notice

    first = rejection(set())
    second = rejection({first.notice_id})
    third = rejection({first.notice_id, second.notice_id})
    assert (first.occasion, second.occasion, third.occasion) == ("", f"rejected:{XINSHI}", f"rejected:{XINSHI}/2")
    assert len({first.notice_id, second.notice_id, third.notice_id}) == 3
    assert all(len(n.occasion) <= 20 for n in (first, second, third))  # routing's notices.occasion column
    assert rejection({second.notice_id}).notice_id == first.notice_id  # only the ids held decide


@pytest.mark.parametrize("result", ["confirmed", "not_found", "corrected"])
@pytest.mark.parametrize("recipients", [RECIPIENTS, CITY_DEPLOYMENT], ids=["forward", "served-street"])
def test_the_reporting_bureau_hears_the_answer_to_a_corrected_residence(result: str, recipients: Recipients) -> None:
    """The residence district corrects the street (the case becomes version 2, relayed to the reporting bureau at
    version 2), then the new street's verification answers: its relay is a second feedback notice at version 2, which
    once took the correction's id and was dropped as its repeat, so the bureau only ever heard "corrected"."""
    opened = open_case(case(WUSHAN), recipients)
    asked = opened.notices[1]
    issued = {n.notice_id for n in opened.notices}

    def answer_held(c: Case, notice: PlannedNotice, result: str, **fields: object) -> Step:
        step = answer(
            c, notice, reply(notice, result, **fields), recipients, load_directory(), issued=frozenset(issued)
        )
        issued.update(n.notice_id for n in step.notices)
        return step

    corrected = answer_held(opened.case, asked, "corrected", corrections={"residence_street": "440106002"})
    (first,) = [n for n in corrected.notices if n.kind is NoticeKind.FEEDBACK]
    (asked_again,) = [n for n in corrected.notices if n.awaits_answer]
    fields = {"corrections": {"residence_address": "天河路 2 号"}} if result == "corrected" else {}
    final = answer_held(corrected.case, asked_again, result, **fields)
    (second,) = [n for n in final.notices if n.kind is NoticeKind.FEEDBACK]

    assert second.reason == f"the residence district answered: {result}"
    assert second.recipient.code == first.recipient.code == "440111"
    if result == "corrected":  # at the version it makes, 3: no second notice at one version
        assert (second.case_version, second.occasion) == (3, "")
    else:
        assert (second.case_version, second.occasion) == (2, "answered")
    assert second.notice_id != first.notice_id
    # the correction's relay keeps the id it always had: (record, version 2, bureau, feedback)
    assert (first.case_version, first.occasion) == (2, "")
    triple = f"r1/2/440111/{NoticeKind.FEEDBACK.value}"
    assert first.notice_id == str(uuid.uuid5(NOTICE_NAMESPACE, triple))


def test_a_relay_at_a_version_no_relay_made_keeps_the_plain_id() -> None:
    """A cross-street transfer corrected to another district's street is not relayed (answered within the
    district); the forward of version 2 then answered is the version's first relay: the id it always had."""
    opened = open_case(case(XINSHI), RECIPIENTS)
    corrected = answered(opened.case, opened.notices[0], "corrected", corrections={"residence_street": WUSHAN})
    assert [n.kind for n in corrected.notices] == [NoticeKind.TRANSFER, NoticeKind.FORWARD]
    held = frozenset(n.notice_id for n in [*opened.notices, *corrected.notices])
    forward = corrected.notices[1]
    step = answer(corrected.case, forward, reply(forward, "confirmed"), RECIPIENTS, load_directory(), issued=held)
    assert step.notices[0].kind is NoticeKind.FEEDBACK
    assert step.notices[0].occasion == ""


def test_an_outflow_reported_by_another_street_tells_the_street_left_and_asks_no_one_to_verify() -> None:
    """同德 reports that a resident of 新市 left for an unknown place: 新市 is told (a `change`, awaiting no answer),
    not asked to verify that the person lives there; the registration place hears of the move from 新市, not to it."""
    record = outflow_record(None).model_copy(
        update={"residence": outflow_record(None).residence.model_copy(update={"street": XINSHI})}
    )
    street, _ = current_residence(record)
    opened = Case.from_record("r1", record, decide_route(reporting_street=TONGDE, residence_street=street))
    step = open_case(opened, RECIPIENTS, outflow_of(record))
    assert step.case.status is CaseStatus.INFLOW_THEN_OUTFLOW
    assert sent(step) == [(NoticeKind.CHANGE, XINSHI, None), (NoticeKind.REGISTRATION, "430102", "national-exchange")]
    assert not any(n.awaits_answer for n in step.notices)
    assert (
        step.notices[0].reason
        == f"a person living in your street was reported by {TONGDE} to have left for an unknown place"
    )
    assert step.notices[1].reason == f"a person registered in your area moved away from {XINSHI} to an unknown place"


def test_an_outflow_to_a_known_street_reported_by_another_street_says_where_from_and_tells_it() -> None:
    step = open_case(case(WUSHAN, event=EventKind.OUTFLOW), RECIPIENTS, Outflow(XINSHI, WUSHAN))
    assert sent(step) == [
        (NoticeKind.TRANSFER, "440111", None),
        (NoticeKind.FORWARD, "440106", "guangzhou-city-exchange"),
        (NoticeKind.CHANGE, XINSHI, None),
        (NoticeKind.REGISTRATION, "430102", "national-exchange"),
    ]
    assert [n.awaits_answer for n in step.notices] == [False, True, False, False]
    assert step.notices[3].reason == f"a person registered in your area moved away from {XINSHI} to {WUSHAN}"


def test_an_outflow_is_not_opened_without_what_its_record_says_of_it() -> None:
    # the street left need not be the reporting street: guessing it from the case told the wrong street
    with pytest.raises(ValueError, match="outflow_of"):
        open_case(case(XINSHI, event=EventKind.OUTFLOW), RECIPIENTS)
