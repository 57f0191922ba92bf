"""Routing's use cases on the embedded SQLite store (`make run-sqlite`), with fakes for the rest.

The same handlers as in production; the emitter records instead of publishing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.routing.adapters import case_store, notice_store, review_store
from services.routing.adapters.emitter import RecordingEmitter
from services.routing.domain.notices import notice_id
from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.service_layer import reviews, views
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.records import RecordHandler
from shared.auth import Principal, parse_scope
from shared.clock import FixedClock
from shared.events import (
    Envelope,
    FeedbackResult,
    NoticeAnswered,
    NoticeIssued,
    NoticeKind,
    RecordSubmitted,
    RejectionReason,
    Resolution,
    ReviewResolved,
    new_envelope,
    parse_event,
)
from shared.kafka.failures import PermanentFailure
from tests.support import kafka
from tests.support.infra import TEST_KEYRING
from tests.support.records import TONGDE, WUSHAN, XINSHI, record
from tests.support.routing import (
    DeadLetterSink,
    RefusingOnce,
    answer_as_recipient,
    issued,
    parked_answers_job,
    sqlite_routing,
)
from tests.support.routing_scenarios import (
    follow_ups_after_outflows,
    queues_after_a_correction_that_still_cannot_route,
    relays_after_a_corrected_residence,
    statuses_after_an_outflow,
)

RECIPIENTS = Recipients.of(["440111"], ExchangeTable({}, ExchangeEndpoint("national", "https://cn")))


@pytest.fixture
async def context(tmp_path: Path) -> AsyncIterator[RoutingContext]:
    async with sqlite_routing(tmp_path, RECIPIENTS) as context:
        yield context


def kinds(context: RoutingContext) -> list[str]:
    return sorted(n.kind.value for n in issued(context))


async def confirm(context: RoutingContext, notice: NoticeIssued) -> None:
    await answer_as_recipient(context, notice, FeedbackResult.CONFIRMED)


async def status_of(context: RoutingContext, record_id: str) -> str:
    async with context.sessions() as session:
        case = await case_store.load_case(session, record_id, TEST_KEYRING)
    assert case is not None
    return case.status.value


async def test_a_batch_is_routed_once_and_a_correction_routes_again(context: RoutingContext) -> None:
    envelopes = [kafka.submitted(record(residence_street=s, sequence=n)) for n, s in ((1, XINSHI), (2, WUSHAN))]
    batch = [(e, parse_event(e, TEST_KEYRING)) for e in envelopes]
    await RecordHandler(context).on_records(batch + batch)  # duplicates inside one batch, too
    await RecordHandler(context).on_records(batch)
    assert kinds(context) == ["forward", "transfer", "transfer"]

    async with context.sessions() as session:
        case = await case_store.load_case(session, envelopes[0].correlation_id, TEST_KEYRING)
        found = await notice_store.load_notice(session, cross_street_notice_id(context))
    assert case is not None
    assert found is not None
    answer = NoticeAnswered(
        notice_id=found[0].notice_id,
        record_id=case.record_id,
        result=FeedbackResult.CORRECTED,
        corrections={"residence_street": WUSHAN},
        answered_by=XINSHI,
        answered_at=datetime(2027, 2, 27, tzinfo=UTC),
    )
    envelope = new_envelope(answer, producer="notification", correlation_id=case.record_id, keyring=TEST_KEYRING)
    await AnswerHandler(context).on_notice_answered(envelope, answer)
    assert kinds(context) == ["forward", "forward", "transfer", "transfer", "transfer"]

    again = new_envelope(answer, producer="notification", correlation_id=case.record_id, keyring=TEST_KEYRING)
    with pytest.raises(PermanentFailure, match="answered already"):
        await AnswerHandler(context).on_notice_answered(again, answer)


async def test_an_event_that_fails_to_build_leaves_no_write_behind(
    context: RoutingContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's statement runs while its events are built: when building fails, the statement
    is still waited for, then the transaction is rolled back and the batch can come again."""
    from services.routing.service_layer import records

    def broken(*_: object) -> None:
        raise RuntimeError("building an event failed")

    envelope = kafka.submitted(record(residence_street=XINSHI, sequence=1))
    batch = [(envelope, parse_event(envelope, TEST_KEYRING))]
    with monkeypatch.context() as patched:
        patched.setattr(records, "_events", broken)
        with pytest.raises(RuntimeError, match="building an event failed"):
            await RecordHandler(context).on_records(batch)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()] == []
    async with context.sessions() as session:
        assert await case_store.load_case(session, envelope.correlation_id, TEST_KEYRING) is None
    assert kinds(context) == []

    await RecordHandler(context).on_records(batch)  # the batch again: routed as if the first try never was
    assert kinds(context) == ["transfer"]


def cross_street_notice_id(context: RoutingContext) -> str:
    assert isinstance(context.emitter, RecordingEmitter)
    notices = [parse_event(e.envelope, TEST_KEYRING) for e in context.emitter.events]
    (cross,) = [n for n in notices if isinstance(n, NoticeIssued) and n.recipient_code == XINSHI]
    assert isinstance(cross, NoticeIssued)
    return cross.notice_id


@pytest.mark.parametrize(
    ("scope", "sees"),
    [
        ("street:440111005", True),  # reported it
        ("street:440111008", False),  # another street of the district
        ("district:440111", True),  # the reporting bureau
        ("district:440106", True),  # the residence district's bureau, sent the forward
        ("district:310115", False),  # another district
        ("admin", True),
    ],
)
async def test_a_case_and_its_decision_are_read_only_within_scope(
    context: RoutingContext, scope: str, sees: bool
) -> None:
    envelope = kafka.submitted(record(residence_street=WUSHAN, sequence=5))
    await RecordHandler(context).on_records([(envelope, parse_event(envelope, TEST_KEYRING))])
    reader = Principal("k", parse_scope(scope))
    case = await views.case(context, reader, envelope.correlation_id)
    decision = await views.decision(context, reader, envelope.correlation_id)
    assert (case is not None, decision is not None) == (sees, sees)


async def test_the_review_queue_shows_a_bureau_its_own_streets_records(context: RoutingContext) -> None:
    ours = kafka.unchecked_submitted(record(residence_street="440111999", sequence=7))
    theirs = kafka.unchecked_submitted(record(reporting_street=WUSHAN, residence_street="440106999", sequence=9))
    await RecordHandler(context).on_records([(e, parse_event(e, TEST_KEYRING)) for e in (ours, theirs)])

    async def queue(scope: str) -> set[str]:
        items = await views.review_queue(context, Principal("k", parse_scope(scope)), limit=10)
        return {item["record_id"] for item in items}

    assert await queue("district:440111") == {ours.correlation_id}
    assert await queue("district:440106") == {theirs.correlation_id}
    assert await queue("admin") == {ours.correlation_id, theirs.correlation_id}


async def test_a_bureau_cannot_move_a_review_items_reporting_street_into_another_district(
    context: RoutingContext,
) -> None:
    """The item's reporting street is in scope (an unknown street of Baiyun's), but its correction was only held to
    the directory: Baiyun's bureau could file the record as reported by Tianhe's 五山街道, which Tianhe's office
    then held a case of, and sent notices from, without having reported it. Intake refuses the key that record."""
    envelope = kafka.unchecked_submitted(record(reporting_street="440111999", residence_street=TONGDE, sequence=41))
    await RecordHandler(context).on_records([(envelope, parse_event(envelope, TEST_KEYRING))])
    baiyun = Principal("k", parse_scope("district:440111"))

    async def resolve(code: str) -> ReviewResolved:
        return await reviews.resolve(
            context,
            baiyun,
            envelope.correlation_id,
            resolution=Resolution.CORRECTED,
            code=code,
            reason=None,
            acting="440111",
        )

    with pytest.raises(reviews.ResolutionRefused) as refused:
        await resolve(WUSHAN)
    assert (refused.value.status, refused.value.detail) == (
        422,
        f"reporting_street must be a street of your own district, not {WUSHAN}",
    )
    assert (await resolve(XINSHI)).code == XINSHI  # a street of its own district: taken


async def test_an_outflow_sent_to_review_does_not_mark_another_persons_case(context: RoutingContext) -> None:
    """Only a routed outflow marks cases gone, and only its own person's: one sent to the review queue
    (here its registration place 江干区 330104, split in 2022) once marked the person of the record routed
    before it in the batch."""
    other = kafka.submitted(record(residence_street=XINSHI, sequence=1))  # person A, a cross-street inflow
    body = record(residence_street=TONGDE, sequence=3, event="outflow")  # person B moves away
    body["registration"]["division"] = "330104"
    outflow = kafka.submitted(body)
    await RecordHandler(context).on_records([(e, parse_event(e, TEST_KEYRING)) for e in (other, outflow)])

    async with context.sessions() as session:
        assert await review_store.load_review(session, outflow.correlation_id) is not None
    assert await status_of(context, other.correlation_id) == "open"  # person A did not move anywhere


@pytest.mark.parametrize("answer_first", [True, False], ids=["answer-first", "outflow-first"])
async def test_a_case_ends_in_the_same_status_whichever_topic_is_read_first(
    context: RoutingContext, answer_first: bool
) -> None:
    """Records and answers are two consumer groups, whose lags differ: a transfer confirmed and a later
    outflow of the person leave the case `inflow_then_outflow` in either order (an answer read after the
    outflow once put it back to `confirmed`), with the same notices."""
    inflow = kafka.submitted(record(residence_street=XINSHI, sequence=21))  # reported by 同德, lives in 新市
    left = kafka.submitted(record(reporting_street=XINSHI, residence_street=XINSHI, sequence=21, event="outflow"))
    await RecordHandler(context).on_records([(inflow, parse_event(inflow, TEST_KEYRING))])
    (transfer,) = issued(context)

    async def outflow() -> None:
        await RecordHandler(context).on_records([(left, parse_event(left, TEST_KEYRING))])

    async def answer() -> None:
        await confirm(context, transfer)

    for step in (answer, outflow) if answer_first else (outflow, answer):
        await step()
    assert await status_of(context, inflow.correlation_id) == "inflow_then_outflow"
    registration = {n.reason for n in issued(context) if n.kind.value == "registration"}
    assert registration == {
        "a person registered in your area was verified living elsewhere",  # the answer's, in either order
        f"a person registered in your area moved away from {XINSHI} to an unknown place",  # the outflow's
    }


async def test_a_confirmed_outflow_tells_the_registration_place_of_the_verification(context: RoutingContext) -> None:
    """An outflow to a known street tells the registration place of the move; the new street's `confirmed`
    tells it of the verification, a second `registration` notice of the same case version and recipient,
    which once took the first one's id and was dropped as its duplicate."""
    body = record(reporting_street=TONGDE, residence_street=TONGDE, sequence=23, event="outflow")
    body["new_residence"] = {"street": XINSHI, "address": "新市街道 棠乐路 8 号"}
    envelope = kafka.submitted(body)
    await RecordHandler(context).on_records([(envelope, parse_event(envelope, TEST_KEYRING))])
    (transfer,) = [n for n in issued(context) if n.kind.value == "transfer"]
    assert transfer.recipient_code == XINSHI
    await confirm(context, transfer)

    registration = [n for n in issued(context) if n.kind.value == "registration"]
    assert sorted(n.reason for n in registration) == [
        "a person registered in your area moved away from 440111005 to 440111008",
        "a person registered in your area was verified living elsewhere",
    ]
    async with context.sessions() as session:
        stored = {n.notice_id for n in await notice_store.notices_of(session, envelope.correlation_id)}
    assert {n.notice_id for n in registration} <= stored
    assert await status_of(context, envelope.correlation_id) == "inflow_then_outflow"


async def reject(context: RoutingContext, notice: NoticeIssued) -> None:
    await answer_as_recipient(context, notice, FeedbackResult.REJECTED, RejectionReason.WRONG_RECIPIENT)


async def test_both_notices_of_an_outflow_rejected_reach_the_reporting_street_as_two_rejections(
    context: RoutingContext,
) -> None:
    """The outflow's transfer and its registration notice share a sender (the reporting street) and a version: their
    two rejections once shared an id, and the second was dropped as the first's duplicate."""
    body = record(reporting_street=TONGDE, residence_street=TONGDE, sequence=29, event="outflow")
    body["new_residence"] = {"street": XINSHI, "address": "新市街道 棠乐路 8 号"}
    envelope = kafka.submitted(body)
    await RecordHandler(context).on_records([(envelope, parse_event(envelope, TEST_KEYRING))])
    (transfer,) = [n for n in issued(context) if n.kind.value == "transfer"]
    (moved,) = [n for n in issued(context) if n.kind.value == "registration"]
    await reject(context, transfer)
    await reject(context, moved)

    rejections = [n for n in issued(context) if n.kind.value == "rejection"]
    assert sorted((n.recipient_code, n.reason) for n in rejections) == [
        (TONGDE, "your registration notice was rejected: wrong_recipient"),
        (TONGDE, "your transfer notice was rejected: wrong_recipient"),
    ]
    assert len({n.notice_id for n in rejections}) == 2
    async with context.sessions() as session:
        stored = {n.notice_id for n in await notice_store.notices_of(session, envelope.correlation_id)}
    assert {n.notice_id for n in rejections} <= stored


async def test_an_answer_before_its_notice_waits_on_sqlite_too(context: RoutingContext) -> None:
    """The embedded store parks an answer to a notice not stored yet and applies it once the notice is
    (SQLite numbers the parked rows itself and has no row locks to skip)."""
    submitted = kafka.submitted(record(residence_street=XINSHI, sequence=31))
    record_id = submitted.correlation_id
    transfer = notice_id(record_id=record_id, case_version=1, recipient_code=XINSHI, kind=NoticeKind.TRANSFER)
    answer = NoticeAnswered(
        notice_id=transfer,
        record_id=record_id,
        result=FeedbackResult.CONFIRMED,
        answered_by=XINSHI,
        answered_at=datetime(2027, 2, 26, 3, tzinfo=UTC),
    )
    answers = AnswerHandler(context, park=True)
    letters = DeadLetterSink()
    job = parked_answers_job(context, answers.apply_now, letters)
    envelope = new_envelope(answer, producer="notification", correlation_id=record_id, keyring=TEST_KEYRING)
    await answers.on_notice_answered(envelope, answer)
    assert (await job.run_once()).applied == 0

    await RecordHandler(context).on_records([(submitted, parse_event(submitted, TEST_KEYRING))])
    assert (await job.run_once()).applied == 1
    assert await status_of(context, record_id) == "confirmed"
    assert letters.sent == []


async def test_answers_set_aside_before_a_refused_dead_letter_stay_set_aside_on_sqlite(context: RoutingContext) -> None:
    """Answers too old are set aside one after the other in one transaction: a dead letter Kafka refuses ends the
    pass, and those set aside before it stay so (rolled back, they were set aside and sent again next pass)."""
    answers, letters = AnswerHandler(context, park=True), RefusingOnce(at=2)
    job = parked_answers_job(context, answers.apply_now, letters, max_age=timedelta(seconds=15))
    envelopes = []
    for sequence in (41, 42, 43):
        record_id = kafka.submitted(record(sequence=sequence)).correlation_id
        answer = NoticeAnswered(
            notice_id=f"never-issued-{sequence}",
            record_id=record_id,
            result=FeedbackResult.CONFIRMED,
            answered_by=XINSHI,
            answered_at=datetime(2027, 2, 26, 3, tzinfo=UTC),
        )
        envelopes.append(new_envelope(answer, producer="notification", correlation_id=record_id, keyring=TEST_KEYRING))
        await answers.on_notice_answered(envelopes[-1], answer)
    clock = context.clock
    assert isinstance(clock, FixedClock)
    clock.advance_to(clock.now() + timedelta(seconds=16))
    with pytest.raises(ConnectionError):
        await job.run_once()
    assert (await job.run_once()).set_aside == 2
    assert [Envelope.model_validate_json(body).event_id for body, _ in letters.sent] == [e.event_id for e in envelopes]


async def test_a_record_submitted_again_under_a_new_event_id_changes_nothing_on_sqlite(context: RoutingContext) -> None:
    first = kafka.submitted(body := record(residence_street=XINSHI, sequence=7))
    await RecordHandler(context).on_records([(first, parse_event(first, TEST_KEYRING))])
    await confirm(context, next(n for n in issued(context) if n.kind is NoticeKind.TRANSFER))
    emitter = context.emitter
    assert isinstance(emitter, RecordingEmitter)
    emitted = len(emitter.events)
    again = kafka.submitted(body, record_id=first.correlation_id)
    await RecordHandler(context).on_records([(again, parse_event(again, TEST_KEYRING))])
    assert len(emitter.events) == emitted
    assert await status_of(context, first.correlation_id) == "confirmed"


async def test_a_record_in_review_submitted_again_leaves_its_item_as_it_is(context: RoutingContext) -> None:
    """The bureau's first correction may have queued the record again on another field (reviews.py): the record
    sent again under a new event id must not put back the uncorrected record and its first field."""
    body = record(residence_street="440111999", sequence=43)
    first = kafka.unchecked_submitted(body)
    await RecordHandler(context).on_records([(first, parse_event(first, TEST_KEYRING))])
    async with context.sessions.begin() as session:
        item = await review_store.load_review(session, first.correlation_id)
        assert item is not None
        item.field, item.reason = "registration.division", "the corrected record waits on its registration"
    again = kafka.unchecked_submitted(body, record_id=first.correlation_id)
    await RecordHandler(context).on_records([(again, parse_event(again, TEST_KEYRING))])
    async with context.sessions() as session:
        item = await review_store.load_review(session, first.correlation_id)
    assert item is not None
    assert (item.field, item.reason) == ("registration.division", "the corrected record waits on its registration")


async def test_a_record_decided_by_another_transaction_meanwhile_keeps_its_answered_case_on_sqlite(
    context: RoutingContext,
) -> None:
    first = kafka.submitted(body := record(residence_street=XINSHI, sequence=9))
    await RecordHandler(context).on_records([(first, parse_event(first, TEST_KEYRING))])
    await confirm(context, next(n for n in issued(context) if n.kind is NoticeKind.TRANSFER))
    again = kafka.submitted(body, record_id=first.correlation_id)
    event = parse_event(again, TEST_KEYRING)
    assert isinstance(event, RecordSubmitted)
    async with context.sessions.begin() as session:  # as `on_records` goes on once its look-up found nothing
        await RecordHandler(context).route(session, [(again, event)])
    assert await status_of(context, first.correlation_id) == "confirmed"


@pytest.mark.parametrize("final", [FeedbackResult.CONFIRMED, FeedbackResult.NOT_FOUND])
async def test_the_reporting_bureau_hears_the_final_answer_after_a_correction_on_sqlite(
    context: RoutingContext, final: FeedbackResult
) -> None:
    """The correction's relay and the new forward's are two feedback notices at version 2: both issued and stored
    (the second once took the first's id and was dropped, so the bureau only heard "corrected")."""
    relayed, stored = await relays_after_a_corrected_residence(context, final)
    answered = f"the residence district answered: {final.value}"
    assert relayed == ["the residence district answered: corrected", answered]
    assert stored == [(2, "", "the residence district answered: corrected"), (2, "answered", answered)]


async def test_no_reminder_nor_escalation_for_a_person_known_to_have_left_on_sqlite(context: RoutingContext) -> None:
    """新市 is not reminded to verify someone it reported gone itself; the newcomer an outflow sent it, and the
    person who stayed, are followed up as ever."""
    assert await follow_ups_after_outflows(context) == {
        "stayed": ["reminder", "escalation"],
        "left": [],
        "moved": ["reminder", "escalation"],
    }


@pytest.mark.parametrize("outflow_first", [True, False], ids=["outflow-first", "inflow-first"])
async def test_an_outflow_marks_the_cases_it_leaves_whichever_arrives_first_on_sqlite(
    context: RoutingContext, outflow_first: bool
) -> None:
    """The case at the new street, where the person lives now, stays `filed` in either order (it was marked gone
    when it arrived first); the case at the street left is marked, the one seen there after leaving is not."""
    assert await statuses_after_an_outflow(context, outflow_first=outflow_first) == {
        "before": "inflow_then_outflow",
        "new_home": "filed",
        "outflow": "inflow_then_outflow",
        "back": "filed",
    }


async def test_an_outflow_for_an_unknown_place_reported_by_another_street_tells_the_street_left(
    context: RoutingContext,
) -> None:
    """同德 reports that a resident of 新市 left, destination unknown: 新市 is told, awaiting no answer (so never
    reminded); its case of the person is marked; the registration place hears of the move from 新市."""
    lived = kafka.submitted(record(reporting_street=XINSHI, residence_street=XINSHI, sequence=57))
    left = kafka.submitted(record(residence_street=XINSHI, sequence=57, event="outflow"))
    for envelope in (lived, left):
        await RecordHandler(context).on_records([(envelope, parse_event(envelope, TEST_KEYRING))])
    notices = [n for n in issued(context) if n.record_id == left.correlation_id]
    assert sorted((n.kind.value, n.recipient_code, n.answer_expected) for n in notices) == [
        ("change", XINSHI, False),
        ("registration", "430102", False),
    ]
    (moved,) = [n.reason for n in notices if n.kind is NoticeKind.REGISTRATION]
    assert moved == f"a person registered in your area moved away from {XINSHI} to an unknown place"
    assert await status_of(context, lived.correlation_id) == "inflow_then_outflow"


async def test_a_corrected_reporting_street_stays_with_the_item_that_still_cannot_route_on_sqlite(
    context: RoutingContext,
) -> None:
    """The item shows what was said last, the corrected street: it is in that street's bureau's queue, which
    makes the next correction. It kept the first report's street, so it stayed in the other district's queue."""
    assert await queues_after_a_correction_that_still_cannot_route(context) == {
        "reporting_street": TONGDE,
        "field": "registration.division",
        "queues": {"440106": False, "440111": True},
        "refused": None,
    }


async def test_the_times_events_are_built_from_come_back_as_the_instants_written_on_sqlite(
    context: RoutingContext,
) -> None:
    """SQLite keeps no offset; routing's tables (sqlmodel's UTCDateTime for a `datetime` field) write UTC and hand
    it back aware. A review item's `received_at` goes into the RecordSubmitted a correction routes again, a case's
    `observed_at` into the RecordRouted an answer causes: both need an offset, and both are the instants written."""
    seen = "2026-02-25T10:30:00+08:00"
    routed = kafka.submitted(record(residence_street=XINSHI, sequence=14, observed_at=seen))
    waiting = kafka.unchecked_submitted(record(residence_street="440111999", sequence=15))
    await RecordHandler(context).on_records([(e, parse_event(e, TEST_KEYRING)) for e in (routed, waiting)])
    async with context.sessions() as session:
        found = await case_store.load_case_with_keys(session, routed.correlation_id, TEST_KEYRING)
        item = await review_store.load_review(session, waiting.correlation_id)
    assert found is not None
    assert item is not None
    for moment, written in ((found[2], datetime.fromisoformat(seen)), (item.received_at, context.clock.now())):
        assert (moment, moment.utcoffset()) == (written, timedelta(0))
