"""Answers that reach routing before their notice is stored, on a real PostgreSQL, with a fake clock.

A notice's event can reach the topic before the batch that writes its row
commits (service_layer/parked.py): the answer waits, is applied once the
notice is written, in the order answers came, and is set aside as a dead
letter when no notice comes. Events go to a recording emitter, dead letters
to a recording sink.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.adapters import store
from services.routing.adapters.emitter import Outgoing, RecordingEmitter
from services.routing.adapters.tables import ParkedAnswer
from services.routing.bootstrap import MIGRATIONS
from services.routing.domain.notices import notice_id
from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.parked import ParkedAnswers, Passed
from services.routing.service_layer.records import RecordHandler
from shared.clock import FixedClock
from shared.db import build_engine, run_migrations, session_factory
from shared.events import Envelope, FeedbackResult, NoticeAnswered, NoticeKind, new_envelope, parse_event
from shared.kafka.failures import DeadLetters, PermanentFailure
from tests.support import kafka
from tests.support.infra import TEST_KEYRING, create_database, drop_database, unique_name
from tests.support.records import TONGDE, XINSHI, record
from tests.support.routing import routing_context

RECIPIENTS = Recipients.of(["440111"], ExchangeTable({}, ExchangeEndpoint("national", "https://cn")))
START = datetime(2027, 2, 26, 2, tzinfo=UTC)
MAX_AGE = timedelta(hours=24)


@pytest.fixture
async def sessions() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    name = unique_name("parked")
    engine = build_engine(await create_database(name))
    try:
        await run_migrations(engine, MIGRATIONS)
        yield session_factory(engine)
    finally:
        await engine.dispose()
        await drop_database(name)


class Letters:
    """The dead-letter sink: what was set aside, with its headers."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, dict[str, str]]] = []

    async def publish(self, body: bytes, headers: dict[str, str]) -> None:
        self.sent.append((body, headers))


class Routing:
    """Routing's answer subscriber (parking) and the parked answers' job, on one store."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], emitter: RecordingEmitter | None = None) -> None:
        self.clock = FixedClock(START)
        self.emitter = emitter or RecordingEmitter()
        self.context: RoutingContext = routing_context(sessions, RECIPIENTS, clock=self.clock, emitter=self.emitter)
        self.answers = AnswerHandler(self.context, park=True)
        self.letters = Letters()
        self.job = ParkedAnswers(
            self.context,
            self.answers.apply_now,
            DeadLetters(self.letters.publish),
            group="routing-answers",
            max_age=MAX_AGE,
        )

    async def route(self, envelope: Envelope) -> None:
        await RecordHandler(self.context).on_record_submitted(envelope, parse_event(envelope, TEST_KEYRING))

    async def answer(self, envelope: Envelope) -> None:
        await self.answers.on_notice_answered(envelope, parse_event(envelope, TEST_KEYRING))

    async def case(self, record_id: str) -> tuple[str, int]:
        async with self.context.sessions() as session:
            case = await store.load_case(session, record_id, TEST_KEYRING)
            assert case is not None
            return str(case.status), case.version

    async def parked(self) -> list[ParkedAnswer]:
        async with self.context.sessions() as session:
            return list((await session.execute(select(ParkedAnswer).order_by(ParkedAnswer.seq))).scalars())  # type: ignore[arg-type]


def answer_to(record_id: str, result: FeedbackResult = FeedbackResult.CONFIRMED, **fields: object) -> Envelope:
    """XINSHI's answer to the transfer notice the record's first decision will issue."""
    transfer = notice_id(record_id=record_id, case_version=1, recipient_code=XINSHI, kind=NoticeKind.TRANSFER)
    event = NoticeAnswered(
        notice_id=str(fields.pop("notice_id", transfer)),
        record_id=record_id,
        result=result,
        answered_by=XINSHI,
        answered_at=START,
        **fields,
    )
    return new_envelope(event, producer="notification", correlation_id=record_id, keyring=TEST_KEYRING)


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

    await routing.route(submitted)
    assert await routing.case(record_id) == ("open", 1)
    events_before = len(routing.emitter.events)

    passed = await routing.job.run_once()
    assert (passed.applied, passed.set_aside) == (1, 0)
    assert await routing.case(record_id) == ("confirmed", 1)
    assert await routing.parked() == []
    assert routing.letters.sent == []
    assert len(routing.emitter.events) >= events_before  # whatever the answer emits went out with it

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
    """`popflow routing rebuild` replays every notice before any answer: one it cannot place is refused."""
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
