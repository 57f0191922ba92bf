"""Answers that reach routing before their notice is stored, on a real PostgreSQL, with a fake clock.

A notice's event can reach the topic before the batch that writes its row
commits (service_layer/parked.py): the answer waits, is applied once the
notice is written, in the order answers came, and is set aside as a dead
letter when no notice comes. Events go to a recording emitter, dead letters
to a recording sink.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.adapters import case_store, notice_store
from services.routing.adapters.emitter import Outgoing, RecordingEmitter
from services.routing.adapters.tables import ParkedAnswer
from services.routing.bootstrap import MIGRATIONS
from services.routing.domain.notices import notice_id
from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.service_layer import parked
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.parked import ApplyNow, ParkedAnswers, Passed
from services.routing.service_layer.records import RecordHandler
from shared.clock import FixedClock
from shared.db.processed import already_processed
from shared.events import (
    Envelope,
    Event,
    FeedbackResult,
    NoticeAnswered,
    NoticeIssued,
    NoticeKind,
    new_envelope,
    parse_event,
)
from shared.kafka.failures import PermanentFailure
from tests.support import kafka
from tests.support.infra import TEST_KEYRING, migrated_database
from tests.support.logs import logged_by
from tests.support.records import TONGDE, XINSHI, record
from tests.support.routing import DeadLetterSink, RefusingOnce, parked_answers_job, routing_context

RECIPIENTS = Recipients.of(["440111"], ExchangeTable({}, ExchangeEndpoint("national", "https://cn")))
START = datetime(2027, 2, 26, 2, tzinfo=UTC)
MAX_AGE = timedelta(hours=24)


@pytest.fixture
async def sessions() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated_database("parked", MIGRATIONS) as sessions:
        yield sessions


class Routing:
    """Routing's answer subscriber (parking) and the parked answers' job, on one store."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], emitter: RecordingEmitter | None = None) -> None:
        self.clock = FixedClock(START)
        self.emitter = emitter or RecordingEmitter()
        self.context: RoutingContext = routing_context(sessions, RECIPIENTS, clock=self.clock, emitter=self.emitter)
        self.answers = AnswerHandler(self.context, park=True)
        self.letters = DeadLetterSink()
        self.job = self.job_with()

    def job_with(
        self, apply_now: ApplyNow | None = None, *, max_age: timedelta = MAX_AGE, batch: int = 100
    ) -> ParkedAnswers:
        """The job as routing builds it, sending its dead letters to `letters`."""
        return parked_answers_job(
            self.context, apply_now or self.answers.apply_now, self.letters, max_age=max_age, batch=batch
        )

    async def route(self, envelope: Envelope) -> None:
        await RecordHandler(self.context).on_record_submitted(envelope, parse_event(envelope, TEST_KEYRING))

    async def answer(self, envelope: Envelope) -> None:
        await self.answers.on_notice_answered(envelope, parse_event(envelope, TEST_KEYRING))

    async def case(self, record_id: str) -> tuple[str, int]:
        async with self.context.sessions() as session:
            case = await case_store.load_case(session, record_id, TEST_KEYRING)
            assert case is not None
            return str(case.status), case.version

    async def parked(self) -> list[ParkedAnswer]:
        async with self.context.sessions() as session:
            return list((await session.execute(select(ParkedAnswer).order_by(ParkedAnswer.seq))).scalars())  # type: ignore[arg-type]


def answer_to(record_id: str, result: FeedbackResult = FeedbackResult.CONFIRMED, **fields: object) -> Envelope:
    """XINSHI's answer to the transfer notice the record's first decision will issue (or, with `notice_id`
    and `answered_by`, another's answer to another notice)."""
    transfer = notice_id(record_id=record_id, case_version=1, recipient_code=XINSHI, kind=NoticeKind.TRANSFER)
    event = NoticeAnswered(
        notice_id=str(fields.pop("notice_id", transfer)),
        record_id=record_id,
        result=result,
        answered_by=str(fields.pop("answered_by", XINSHI)),
        answered_at=START,
        **fields,
    )
    return new_envelope(event, producer="notification", correlation_id=record_id, keyring=TEST_KEYRING)


def effects(events: list[Outgoing]) -> list[tuple[str, str]]:
    """Each event's type and, for a notice, its kind and recipient."""
    described = []
    for outgoing in events:
        event = parse_event(outgoing.envelope, TEST_KEYRING)
        detail = f"{event.kind.value} to {event.recipient_code}" if isinstance(event, NoticeIssued) else ""
        described.append((outgoing.type, detail))
    return described


def cross_street(sequence: int) -> Envelope:
    return kafka.submitted(record(residence_street=XINSHI, sequence=sequence))


async def test_an_answer_before_its_notice_waits_and_is_applied_once_the_notice_is_stored(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    routing = Routing(sessions)
    submitted = cross_street(1)
    record_id = submitted.correlation_id
    answer = answer_to(record_id)

    await routing.answer(answer)
    (parked,) = await routing.parked()
    assert (parked.notice_id, parked.record_id, parked.event_id) == (
        answer_to(record_id).payload["notice_id"],
        record_id,
        str(answer.event_id),
    )
    assert record_id not in parked.body_sealed  # the message is kept sealed whole
    assert await routing.job.run_once() == Passed(applied=0, set_aside=0)  # no notice yet: it waits
    assert await routing.parked() != []

    await routing.answer(answer)  # delivered again: handled once, parked once
    assert len(await routing.parked()) == 1

    # a twin record answered after its notice was stored: what the parked answer must do the same
    twin = cross_street(11)
    await routing.route(twin)
    before = len(routing.emitter.events)
    await routing.answer(answer_to(twin.correlation_id))
    expected = effects(routing.emitter.events[before:])
    assert expected  # a confirmed transfer tells the registration place

    await routing.route(submitted)
    assert await routing.case(record_id) == ("open", 1)
    before = len(routing.emitter.events)
    passed = await routing.job.run_once()
    assert (passed.applied, passed.set_aside) == (1, 0)
    assert await routing.case(record_id) == await routing.case(twin.correlation_id)
    assert effects(routing.emitter.events[before:]) == expected
    assert await routing.parked() == []
    assert routing.letters.sent == []

    assert (await routing.job.run_once()).applied == 0  # applied once, never again


async def test_a_later_answer_to_a_waiting_notice_waits_behind_it_and_they_apply_in_order(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    routing = Routing(sessions)
    submitted = cross_street(2)
    record_id = submitted.correlation_id
    first = answer_to(record_id, FeedbackResult.NOT_FOUND)
    second = answer_to(record_id, FeedbackResult.CONFIRMED)

    await routing.answer(first)
    await routing.route(submitted)
    await routing.answer(second)  # its notice is stored now, but the first answer waits: so does this one
    assert [p.event_id for p in await routing.parked()] == [str(first.event_id), str(second.event_id)]

    passed = await routing.job.run_once()
    assert (passed.applied, passed.set_aside) == (1, 1)
    assert (await routing.case(record_id))[0] == "not_found"  # the first answer stands
    ((body, headers),) = routing.letters.sent
    assert headers["error_type"] == "PermanentFailure"
    assert "answered already" in headers["error"]
    assert headers["consumer_group"] == "routing-answers"
    assert Envelope.model_validate_json(body).event_id == second.event_id  # the message as it came
    assert await routing.parked() == []


async def test_an_answer_whose_notice_never_comes_is_set_aside_after_the_maximum_age(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    routing = Routing(sessions)
    stray = answer_to(str(uuid.uuid4()), notice_id=str(uuid.uuid4()))
    await routing.answer(stray)

    routing.clock.advance_to(START + MAX_AGE - timedelta(seconds=1))
    assert (await routing.job.run_once()).set_aside == 0
    assert len(await routing.parked()) == 1

    routing.clock.advance_to(START + MAX_AGE + timedelta(seconds=1))
    assert (await routing.job.run_once()).set_aside == 1
    ((body, headers),) = routing.letters.sent
    assert "no notice" in headers["error"]
    assert "within 24 hours" in headers["error"]
    assert headers["source_topic"] == NoticeAnswered.TOPIC  # handled outside a subscriber: the topic's own name
    assert Envelope.model_validate_json(body).event_id == stray.event_id
    assert await routing.parked() == []


async def test_an_answer_naming_another_record_than_its_notice_is_refused_at_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    routing = Routing(sessions)
    submitted = cross_street(3)
    await routing.route(submitted)
    transfer = answer_to(submitted.correlation_id).payload["notice_id"]
    wrong = answer_to(str(uuid.uuid4()), notice_id=transfer)
    with pytest.raises(PermanentFailure, match="no notice"):
        await routing.answer(wrong)
    assert await routing.parked() == []


async def test_without_parking_an_answer_before_its_notice_is_refused_as_before(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The use case alone, not parking (neither the service nor a rebuild): an answer it cannot place is refused."""
    routing = Routing(sessions)
    answer = answer_to(cross_street(4).correlation_id)
    with pytest.raises(PermanentFailure, match="no notice"):
        await AnswerHandler(routing.context).on_notice_answered(answer, parse_event(answer, TEST_KEYRING))
    assert await routing.parked() == []


class FailingOnce(RecordingEmitter):
    """Once armed, refuses the next hand-over that carries anything (the broker down for one pass)."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    async def emit(self, events: list[Outgoing]) -> None:
        if events and self.armed:
            self.armed = False
            raise ConnectionError("broker unavailable")
        await super().emit(events)


async def test_a_pass_that_fails_keeps_the_answer_parked_and_the_next_applies_it_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    emitter = FailingOnce()
    routing = Routing(sessions, emitter)
    submitted = cross_street(5)
    record_id = submitted.correlation_id
    # a not-found answer issues a recheck notice to the reporting street: an answer with events of its own
    await routing.answer(answer_to(record_id, FeedbackResult.NOT_FOUND))
    await routing.route(submitted)
    emitter.armed = True
    routed_events = len(routing.emitter.events)

    with pytest.raises(ConnectionError):
        await routing.job.run_once()
    assert await routing.case(record_id) == ("open", 1)  # nothing of the answer was kept
    assert len(await routing.parked()) == 1

    assert (await routing.job.run_once()).applied == 1
    assert (await routing.case(record_id))[0] == "not_found"
    rechecks = [e for e in routing.emitter.events[routed_events:] if e.envelope.type == "NoticeIssued"]
    assert [parse_event(e.envelope, TEST_KEYRING).recipient_code for e in rechecks] == [TONGDE]  # type: ignore[attr-defined]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ParkedAnswer)) == 0


async def test_an_answer_refused_after_it_wrote_keeps_nothing_of_it_and_is_set_aside(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A refusal raised after the answer wrote (the database refusing a value, say) rolls its writes back."""
    routing = Routing(sessions)
    submitted = cross_street(6)
    await routing.answer(answer_to(submitted.correlation_id))
    await routing.route(submitted)

    async def writes_then_refuses(session: AsyncSession, envelope: Envelope, event: NoticeAnswered) -> list[Outgoing]:
        found = await notice_store.load_notice(session, event.notice_id, for_update=True)
        assert found is not None
        found[1].answered_at, found[1].result = event.answered_at, "confirmed"
        await session.flush()
        raise PermanentFailure("refused after writing")

    job = routing.job_with(writes_then_refuses)
    assert await job.run_once() == Passed(applied=0, set_aside=1)
    ((_, headers),) = routing.letters.sent
    assert headers["error"] == "refused after writing"
    async with sessions() as session:
        found = await notice_store.load_notice(session, answer_to(submitted.correlation_id).payload["notice_id"])
        assert found is not None
        assert found[1].answered_at is None  # the write went with the refusal
    assert await routing.parked() == []


async def test_parked_answers_apply_in_the_order_they_came_not_the_order_they_lie_in(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    routing = Routing(sessions)
    submitted = cross_street(7)
    record_id = submitted.correlation_id
    first, second = answer_to(record_id, FeedbackResult.NOT_FOUND), answer_to(record_id)
    await routing.answer(first)
    await routing.answer(second)
    # stored the other way round, under their own places: the first answer lies after the second
    async with sessions.begin() as session:
        rows = list((await session.execute(select(ParkedAnswer))).scalars())
        copies = [{c: getattr(r, c) for c in ParkedAnswer.model_fields} for r in rows]
        await session.execute(delete(ParkedAnswer))
    async with sessions.begin() as session:
        for copy in sorted(copies, key=lambda c: -int(c["seq"])):
            session.add(ParkedAnswer(**copy))
    await routing.route(submitted)

    assert await routing.job.run_once() == Passed(applied=1, set_aside=1)
    assert (await routing.case(record_id))[0] == "not_found"  # the first answer's
    ((body, _),) = routing.letters.sent
    assert Envelope.model_validate_json(body).event_id == second.event_id


async def test_every_answer_too_old_is_set_aside_in_one_pass(sessions: async_sessionmaker[AsyncSession]) -> None:
    routing = Routing(sessions)
    job = routing.job_with(max_age=timedelta(seconds=15), batch=1)
    for _ in range(3):
        await routing.answer(answer_to(str(uuid.uuid4()), notice_id=str(uuid.uuid4())))
    routing.clock.advance_to(START + timedelta(seconds=16))
    assert await job.run_once() == Passed(applied=0, set_aside=3)
    assert all("within 15 seconds of the answer" in headers["error"] for _, headers in routing.letters.sent)


class Held(RecordingEmitter):
    """Holds the first hand-over that carries anything until released (a slow broker)."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def emit(self, events: list[Outgoing]) -> None:
        if events and not self.release.is_set():
            self.holding.set()
            await self.release.wait()
        await super().emit(events)


async def test_two_runners_at_once_apply_a_notices_answers_once_each_and_in_order(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A leader's job still running while the next leader's starts (fail-over): the second waits for the
    answer the first holds instead of taking the one behind it."""
    slow = Routing(sessions, Held())
    other = Routing(sessions)
    submitted = cross_street(8)
    record_id = submitted.correlation_id
    first, second = answer_to(record_id, FeedbackResult.NOT_FOUND), answer_to(record_id)
    held = slow.emitter
    assert isinstance(held, Held)
    await slow.answer(first)
    await slow.answer(second)
    held.release.set()  # the record's own events leave at once
    await asyncio.wait_for(slow.route(submitted), 10)
    held.release.clear()

    one = asyncio.create_task(slow.job.run_once())
    await asyncio.wait_for(held.holding.wait(), 10)  # the first runner holds the first answer
    two = asyncio.create_task(other.job.run_once())
    await asyncio.sleep(0.5)  # the second runner waits for it, does not take the answer behind it
    assert not two.done()
    held.release.set()
    passes = await asyncio.wait_for(asyncio.gather(one, two), 10)

    assert sum(p.applied for p in passes) == 1
    assert sum(p.set_aside for p in passes) == 1
    assert (await slow.case(record_id))[0] == "not_found"  # the first answer's, applied once
    ((body, headers),) = slow.letters.sent + other.letters.sent
    assert Envelope.model_validate_json(body).event_id == second.event_id
    assert "answered already" in headers["error"]
    notices = [parse_event(e.envelope, TEST_KEYRING) for e in slow.emitter.events + other.emitter.events]
    assert [n.kind for n in notices if isinstance(n, NoticeIssued)].count(NoticeKind.RECHECK) == 1


async def test_an_answer_that_keeps_failing_holds_back_no_set_aside_and_is_set_aside_itself_in_time(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    emitter = FailingOnce()
    routing = Routing(sessions, emitter)
    await routing.answer(answer_to(str(uuid.uuid4()), notice_id=str(uuid.uuid4())))  # its notice never comes
    routing.clock.advance_to(START + timedelta(hours=12))
    submitted = cross_street(9)
    await routing.answer(answer_to(submitted.correlation_id, FeedbackResult.NOT_FOUND))
    await routing.route(submitted)

    routing.clock.advance_to(START + MAX_AGE + timedelta(seconds=1))  # the first answer is too old by now
    emitter.armed = True
    with pytest.raises(ConnectionError):  # the second one's events do not leave: the pass fails...
        await routing.job.run_once()
    ((_, headers),) = routing.letters.sent  # ...after it set aside the answer too old all the same
    assert headers["error"].startswith("no notice")
    assert len(await routing.parked()) == 1

    routing.clock.advance_to(START + timedelta(hours=12) + MAX_AGE + timedelta(seconds=1))
    emitter.armed = True  # still failing once it waited as long: it never will apply
    assert await routing.job.run_once() == Passed(applied=0, set_aside=1)
    assert routing.letters.sent[1][1]["error"] == "not applied within 24 hours of the answer (ConnectionError)"
    assert await routing.parked() == []


async def test_an_answer_set_aside_is_no_longer_marked_handled_so_its_replay_is_applied(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Its notice came after the maximum age: the admin re-sends the dead letter (`popflow dead-letters
    replay`), and the answer is applied instead of skipped as handled."""
    routing = Routing(sessions)
    submitted = cross_street(12)
    answer = answer_to(submitted.correlation_id)
    await routing.answer(answer)
    routing.clock.advance_to(START + MAX_AGE + timedelta(seconds=1))
    assert (await routing.job.run_once()).set_aside == 1
    async with sessions() as session:
        assert not await already_processed(session, str(answer.event_id))

    await routing.route(submitted)  # the notice, late
    await routing.answer(answer)  # the replay
    assert await routing.case(submitted.correlation_id) == ("confirmed", 1)
    assert await routing.parked() == []


def outflow(sequence: int) -> Envelope:
    """An outflow: a transfer notice to the new residence's street and a registration notice, one version."""
    body = record(reporting_street=TONGDE, residence_street=TONGDE, sequence=sequence, event="outflow")
    body["new_residence"] = {"street": XINSHI, "address": "新市街道 棠乐路 8 号"}
    return kafka.submitted(body)


async def test_an_answer_to_another_notice_of_the_record_waits_behind_a_parked_one(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One record's answers apply in the order they came, to whichever of its notices: an answer to the
    registration notice does not overtake the transfer's answer that waits for its notice."""
    routing = Routing(sessions)
    submitted = outflow(12)
    record_id = submitted.correlation_id
    first = answer_to(record_id, FeedbackResult.REJECTED, reason="wrong_recipient")  # to the transfer
    await routing.answer(first)
    await routing.route(submitted)
    async with sessions() as session:
        (registration,) = [n for n in await notice_store.notices_of(session, record_id) if n.kind == "registration"]
    second = answer_to(
        record_id,
        FeedbackResult.REJECTED,
        reason="wrong_recipient",
        notice_id=registration.notice_id,
        answered_by=registration.recipient_code,
    )
    await routing.answer(second)  # its own notice is stored, but the record's earlier answer waits
    assert [p.event_id for p in await routing.parked()] == [str(first.event_id), str(second.event_id)]

    with logged_by(monkeypatch, parked) as logs:
        assert await routing.job.run_once() == Passed(applied=2, set_aside=0)
    applied = [line["notice_id"] for line in logs if line["event"] == "parked answer applied"]
    assert applied == [first.payload["notice_id"], registration.notice_id]
    assert await routing.parked() == []


async def test_an_answer_that_fails_holds_back_its_record_only(sessions: async_sessionmaker[AsyncSession]) -> None:
    """A passing failure of one record's answer (its events do not leave) leaves the other records' answers
    to go on in the same pass; the record's own answer is tried again the next."""
    emitter = FailingOnce()
    routing = Routing(sessions, emitter)
    stuck, other = cross_street(13), cross_street(14)
    for submitted in (stuck, other):
        await routing.answer(answer_to(submitted.correlation_id, FeedbackResult.NOT_FOUND))
    for submitted in (stuck, other):
        await routing.route(submitted)
    emitter.armed = True  # the first answer's events fail to leave

    with pytest.raises(ConnectionError):
        await routing.job.run_once()
    assert (await routing.case(stuck.correlation_id))[0] == "open"
    assert (await routing.case(other.correlation_id))[0] == "not_found"  # not held back by the other record
    assert [p.record_id for p in await routing.parked()] == [stuck.correlation_id]

    assert await routing.job.run_once() == Passed(applied=1, set_aside=0)
    assert (await routing.case(stuck.correlation_id))[0] == "not_found"


async def test_an_answer_behind_one_whose_notice_has_not_come_waits_until_that_one_is_settled(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    routing = Routing(sessions)
    submitted = cross_street(15)
    record_id = submitted.correlation_id
    await routing.route(submitted)
    waiting = answer_to(record_id, notice_id=str(uuid.uuid4()))  # a notice of the record not stored (yet)
    await routing.answer(waiting)
    behind = answer_to(record_id, FeedbackResult.NOT_FOUND)  # to the record's stored transfer notice
    await routing.answer(behind)

    assert await routing.job.run_once() == Passed(applied=0, set_aside=0)  # its own notice is there, yet it waits
    assert (await routing.case(record_id))[0] == "open"

    routing.clock.advance_to(START + MAX_AGE + timedelta(seconds=1))
    assert await routing.job.run_once() == Passed(applied=0, set_aside=1)  # the first, its notice never came
    assert await routing.job.run_once() == Passed(applied=1, set_aside=0)  # then this one, at the next pass
    assert (await routing.case(record_id))[0] == "not_found"


async def test_answers_set_aside_before_a_refused_dead_letter_are_not_set_aside_again(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # the pass set its answers too old aside in one transaction: a dead letter refused rolled back the answers
    # set aside before it, whose dead letters Kafka had taken, and the next pass sent them again
    routing = Routing(sessions)
    routing.letters = RefusingOnce(at=2)
    job = routing.job_with(max_age=timedelta(seconds=15))
    answers = [answer_to(str(uuid.uuid4()), notice_id=str(uuid.uuid4())) for _ in range(3)]
    for answer in answers:
        await routing.answer(answer)
    routing.clock.advance_to(START + timedelta(seconds=16))
    with pytest.raises(ConnectionError):  # the pass fails, and the next one tries again
        await job.run_once()
    assert len(await routing.parked()) == 2  # the first one set aside for good
    assert await job.run_once() == Passed(applied=0, set_aside=2)
    sent = [Envelope.model_validate_json(body).event_id for body, _ in routing.letters.sent]
    assert sent == [answer.event_id for answer in answers]  # each once, in the order they came


async def test_a_batch_of_answers_does_what_each_alone_does_and_again_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Routing takes its answers in batches (one transaction, one publication): each answer does what it does
    alone, in the order they came, a repeat within the batch once; one whose notice is not stored waits."""
    routing = Routing(sessions)
    alone, batched = [cross_street(21), cross_street(22)], [cross_street(31), cross_street(32)]
    for submitted in alone + batched:
        await routing.route(submitted)

    before = len(routing.emitter.events)
    await routing.answer(answer_to(alone[0].correlation_id))
    await routing.answer(answer_to(alone[1].correlation_id, FeedbackResult.NOT_FOUND))
    expected = effects(routing.emitter.events[before:])
    assert len(expected) >= 2  # the confirmed transfer tells the registration place; not found asks a recheck

    confirmed = answer_to(batched[0].correlation_id)
    waiting = answer_to(cross_street(33).correlation_id)  # its record is not routed yet
    batch = [confirmed, answer_to(batched[1].correlation_id, FeedbackResult.NOT_FOUND), confirmed, waiting]
    events = [(envelope, parse_event(envelope, TEST_KEYRING)) for envelope in batch]
    before = len(routing.emitter.events)
    await routing.answers.on_answers(events)
    assert effects(routing.emitter.events[before:]) == expected
    for one, other in zip(alone, batched, strict=True):
        assert await routing.case(other.correlation_id) == await routing.case(one.correlation_id)
    assert [p.event_id for p in await routing.parked()] == [str(waiting.event_id)]
    async with routing.context.sessions() as session:
        for envelope in (confirmed, batch[1], waiting):
            assert await already_processed(session, str(envelope.event_id))

    before = len(routing.emitter.events)
    await routing.answers.on_answers(events)  # the batch delivered again
    assert routing.emitter.events[before:] == []
    assert len(await routing.parked()) == 1


async def test_a_records_two_answers_in_one_batch_do_what_they_do_one_after_the_other(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """An outflow's transfer and its registration notice are answered by two offices, and both answers can
    come in one batch: the second applies to the case as the first left it, as when they come apart."""
    routing = Routing(sessions)
    apart, together = outflow(41), outflow(42)
    for submitted in (apart, together):
        await routing.route(submitted)

    async def both_answers(submitted: Envelope) -> list[tuple[Envelope, Event]]:
        record_id = submitted.correlation_id
        async with sessions() as session:
            (registration,) = [n for n in await notice_store.notices_of(session, record_id) if n.kind == "registration"]
        # the new residence's street says the person lives in another street: the case is routed again
        transfer = answer_to(record_id, FeedbackResult.CORRECTED, corrections={"residence_street": "440111006"})
        place = answer_to(  # the registration place refuses its notice
            record_id,
            FeedbackResult.REJECTED,
            reason="wrong_recipient",
            notice_id=registration.notice_id,
            answered_by=registration.recipient_code,
        )
        return [(envelope, parse_event(envelope, TEST_KEYRING)) for envelope in (transfer, place)]

    before = len(routing.emitter.events)
    for one in await both_answers(apart):
        await routing.answers.on_answers([one])
    expected = effects(routing.emitter.events[before:])
    before = len(routing.emitter.events)
    await routing.answers.on_answers(await both_answers(together))
    assert effects(routing.emitter.events[before:]) == expected
    assert [kind for kind, _ in expected] == ["RecordRouted", "NoticeIssued", "NoticeIssued"]  # routed again
    assert await routing.case(apart.correlation_id) == ("inflow_then_outflow", 2)
    assert await routing.case(together.correlation_id) == ("inflow_then_outflow", 2)
