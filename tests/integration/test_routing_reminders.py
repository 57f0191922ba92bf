"""The reminder job and the at-most-once notices, on a real PostgreSQL, with a fake clock.

Records are routed by the real handler into a fresh database; the job then
runs at chosen moments. Events go to a recording emitter instead of Kafka.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.routing.adapters.emitter import RecordingEmitter
from services.routing.adapters.tables import NoticeRow
from services.routing.bootstrap import MIGRATIONS
from services.routing.domain.ids import derived_id
from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.records import RecordHandler
from services.routing.service_layer.reminders import ReminderJob
from shared.clock import FixedClock
from shared.db.processed import ProcessedEvent
from shared.events import (
    Envelope,
    FeedbackResult,
    NoticeAnswered,
    NoticeIssued,
    RecordRouted,
    RecordSubmitted,
    new_envelope,
    parse_event,
)
from tests.support import kafka
from tests.support.infra import TEST_KEYRING, migrated_database
from tests.support.records import TONGDE, WUSHAN, XINSHI, record
from tests.support.routing import routing_context

SHANGHAI = ZoneInfo("Asia/Shanghai")
FRIDAY = datetime(2027, 2, 26, 10, tzinfo=SHANGHAI)
HOLIDAY = date(2027, 3, 3)  # a Wednesday
RECIPIENTS = Recipients.of(
    ["440111"],
    ExchangeTable({"4401": ExchangeEndpoint("city", "https://gz")}, ExchangeEndpoint("national", "https://cn")),
)


@pytest.fixture
async def sessions() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated_database("reminders", MIGRATIONS) as sessions:
        yield sessions


def context_for(
    sessions: async_sessionmaker[AsyncSession], clock: FixedClock, emitter: RecordingEmitter
) -> RoutingContext:
    return routing_context(sessions, RECIPIENTS, clock=clock, emitter=emitter)


async def route(handler: RecordHandler, envelope: Envelope) -> None:
    await handler.on_record_submitted(envelope, parse_event(envelope, TEST_KEYRING))


def issued(emitter: RecordingEmitter) -> list[tuple[str, str]]:
    notices = [parse_event(e.envelope, TEST_KEYRING) for e in emitter.events if e.envelope.type == NoticeIssued.TYPE]
    return sorted((n.kind.value, n.recipient_code) for n in notices if isinstance(n, NoticeIssued))


async def test_unanswered_notices_are_reminded_after_n_working_days_and_escalated_after_2n(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, emitter = FixedClock(FRIDAY), RecordingEmitter()
    context = context_for(sessions, clock, emitter)
    cross, inter, answered = (
        kafka.submitted(record(residence_street=street, sequence=n))
        for n, street in ((1, XINSHI), (2, WUSHAN), (3, XINSHI))
    )
    for envelope in (cross, inter, answered):
        await route(RecordHandler(context), envelope)
    await _answer_transfer_of(context, answered.correlation_id)
    job = ReminderJob(context, deadline_days=3, holidays=[HOLIDAY], zone=SHANGHAI)

    async def pass_on(day: int) -> list[tuple[str, str]]:
        emitter.events.clear()
        clock.at = datetime(2027, 3, day, 9, tzinfo=SHANGHAI)
        await job.run_once()
        return issued(emitter)

    assert await pass_on(3) == []  # Wednesday is a holiday: 2 working days so far
    assert await pass_on(4) == [("reminder", "440106"), ("reminder", XINSHI)]  # Thursday: 3
    assert await pass_on(4) == []  # once only
    assert await pass_on(8) == []  # Monday: 5
    assert await pass_on(9) == [("escalation", "440111"), ("escalation", "440111")]  # Tuesday: 6 = 2N
    assert await pass_on(10) == []

    async with sessions() as session:
        waiting = select(func.count()).select_from(NoticeRow).where(NoticeRow.escalated_at.is_not(None))  # type: ignore[union-attr]
        assert await session.scalar(waiting) == 2


async def _answer_transfer_of(context: RoutingContext, record_id: str) -> None:
    async with context.sessions() as session:
        notice_id = await session.scalar(
            text("SELECT notice_id FROM notices WHERE record_id = :r AND kind = 'transfer'"), {"r": record_id}
        )
    event = NoticeAnswered(
        notice_id=notice_id,
        record_id=record_id,
        result=FeedbackResult.CONFIRMED,
        answered_by=XINSHI,
        answered_at=datetime.now(UTC),
    )
    envelope = new_envelope(event, producer="notification", correlation_id=record_id, keyring=TEST_KEYRING)
    await AnswerHandler(context).on_notice_answered(envelope, event)


async def test_a_notice_exists_once_per_version_recipient_and_kind_however_events_repeat(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    emitter = RecordingEmitter()
    handler = RecordHandler(context_for(sessions, FixedClock(FRIDAY), emitter))
    body = record(reporting_street=TONGDE, residence_street=WUSHAN, sequence=4)
    envelope = kafka.submitted(body)
    await route(handler, envelope)
    first = issued(emitter)
    await route(handler, envelope)  # the same event again: skipped by its id
    # the same record under a new event id (a producer retrying without its outbox): no new notice either
    await route(handler, kafka.submitted(body, record_id=envelope.correlation_id))
    assert issued(emitter) == first == [("forward", "440106"), ("transfer", "440111")]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(NoticeRow)) == 2


async def test_a_record_submitted_again_under_a_new_event_id_leaves_its_answered_case_as_it_is(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    emitter = RecordingEmitter()
    context = context_for(sessions, FixedClock(FRIDAY), emitter)
    handler = RecordHandler(context)
    first = kafka.submitted(body := record(residence_street=XINSHI, sequence=5))
    await route(handler, first)
    await _answer_transfer_of(context, first.correlation_id)
    published = len(emitter.events)
    # twice again in one batch, each under a new event id
    again = kafka.submitted(body, record_id=first.correlation_id)
    twin = kafka.submitted(body, record_id=first.correlation_id)
    await handler.on_records([(e, parse_event(e, TEST_KEYRING)) for e in (again, twin)])
    assert len(emitter.events) == published  # no decision, notice or RecordRouted a second time
    async with sessions() as session:
        status_of = text("SELECT status FROM cases WHERE record_id = :r")
        status = await session.scalar(status_of, {"r": first.correlation_id})
    assert status == "confirmed"
    assert await handled(sessions, again, twin) == 2  # so a redelivery of either is skipped by its id


async def test_a_record_twice_in_its_first_batch_is_decided_once_from_the_first(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    emitter = RecordingEmitter()
    handler = RecordHandler(context_for(sessions, FixedClock(FRIDAY), emitter))
    body = record(reporting_street=TONGDE, residence_street=WUSHAN, sequence=6)
    first = kafka.submitted(body)
    twin = kafka.submitted(body, record_id=first.correlation_id)
    await handler.on_records([(e, parse_event(e, TEST_KEYRING)) for e in (first, twin)])
    routed = [str(e.envelope.event_id) for e in emitter.events if e.envelope.type == RecordRouted.TYPE]
    assert routed == [derived_id(first.event_id, RecordRouted.TYPE)]  # its id follows from the first's
    assert issued(emitter) == [("forward", "440106"), ("transfer", "440111")]
    assert await handled(sessions, first, twin) == 2


async def handled(sessions: async_sessionmaker[AsyncSession], *envelopes: Envelope) -> int:
    """How many of the envelopes' events routing has marked handled."""
    ids = [str(envelope.event_id) for envelope in envelopes]
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).where(col(ProcessedEvent.event_id).in_(ids))) or 0)


async def test_a_record_decided_by_another_transaction_meanwhile_keeps_its_answered_case(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Two transactions that both found the record undecided (a re-sent copy on another consumer): the later
    one's write waits for the earlier's row and then leaves it, and the case answered meanwhile, as it is."""
    emitter = RecordingEmitter()
    context = context_for(sessions, FixedClock(FRIDAY), emitter)
    handler = RecordHandler(context)
    first = kafka.submitted(body := record(residence_street=XINSHI, sequence=8))
    await route(handler, first)
    await _answer_transfer_of(context, first.correlation_id)
    again = kafka.submitted(body, record_id=first.correlation_id)
    event = parse_event(again, TEST_KEYRING)
    assert isinstance(event, RecordSubmitted)
    async with sessions.begin() as session:  # as `on_records` goes on once its look-up found nothing
        await handler.route(session, [(again, event)], processed=[str(again.event_id)])
    async with sessions() as session:
        status = await session.scalar(
            text("SELECT status FROM cases WHERE record_id = :r"), {"r": first.correlation_id}
        )
    assert status == "confirmed"
    assert await handled(sessions, again) == 1
