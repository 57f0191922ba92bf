"""A rebuilt store holds the live store's times, not the rebuild's, on a real PostgreSQL.

The live service handles each message LAG after it happened (a fake clock);
every message it handles is kept, as the topics keep them, and replayed into
a second store on the Friday after. The rebuild stamps each message with its
own time, so the rebuilt times are the live ones less LAG, the deadlines the
same, and the reminder job run after the rebuild follows up what fell due in
between, once, under the ids the live job gives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.bootstrap import MIGRATIONS
from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.service_layer import views
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.rebuild import replay_topics
from services.routing.service_layer.records import RecordHandler
from services.routing.service_layer.reminders import ReminderJob
from shared.auth import Principal, parse_scope
from shared.clock import FixedClock
from shared.events import Envelope, Event, FeedbackResult, NoticeAnswered, new_envelope, parse_event
from tests.support import kafka
from tests.support.infra import TEST_KEYRING, migrated_database
from tests.support.records import WUSHAN, XINSHI, record
from tests.support.routing import routing_context

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 23, 10, 15, tzinfo=SHANGHAI)
THURSDAY = datetime(2026, 11, 26, 9, tzinfo=SHANGHAI)  # Monday's notices are due (N = 3 working days)
REBUILT_ON = datetime(2026, 11, 27, 9, tzinfo=SHANGHAI)  # Friday: Tuesday's are due too
LAG = timedelta(seconds=2)  # from a message to the live service's handling of it
RECIPIENTS = Recipients.of(
    ["440111"],
    ExchangeTable({"4401": ExchangeEndpoint("city", "https://gz")}, ExchangeEndpoint("national", "https://cn")),
)
TIMES = {
    "decisions": "SELECT record_id, decided_at FROM routed_records",
    "cases": "SELECT record_id, updated_at FROM cases",
    "notices": "SELECT notice_id, issued_at FROM notices",
    "answers": "SELECT notice_id, answered_at FROM notices WHERE answered_at IS NOT NULL",
    "review items": "SELECT record_id, received_at FROM review_queue",
}
Handle = Callable[[Envelope, Event], Awaitable[None]]


class Live:
    """Routing as it ran: each message handled LAG after it happened, and kept by topic as Kafka keeps it."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.clock = FixedClock(MONDAY)
        self.context = routing_context(sessions, RECIPIENTS, clock=self.clock)
        self.topics: dict[str, list[bytes]] = defaultdict(list)

    async def handle(self, envelope: Envelope, handle: Handle) -> None:
        event = parse_event(envelope, TEST_KEYRING)
        self.topics[event.TOPIC].append(envelope.model_dump_json().encode())
        self.clock.at = envelope.occurred_at + LAG
        await handle(envelope, event)

    async def read(self, topic: str) -> list[AsyncIterator[bytes]]:
        """The topic as one partition."""
        return [_stream(self.topics[topic])]


async def _stream(messages: list[bytes]) -> AsyncIterator[bytes]:
    for message in messages:
        yield message


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    """A week's start at one street: a transfer, a forward, a record to review; the transfer answered the day
    after with another residence, whose forward is issued then."""
    async with migrated_database("rebuild-live", MIGRATIONS) as sessions:
        live = Live(sessions)
        records = RecordHandler(live.context).on_record_submitted
        answered = at(kafka.submitted(record(residence_street=XINSHI, sequence=31)), MONDAY)
        for envelope in (
            answered,
            at(kafka.submitted(record(residence_street=WUSHAN, sequence=32)), MONDAY + timedelta(hours=1)),
            at(
                kafka.unchecked_submitted(record(residence_street="440111999", sequence=33)),
                MONDAY + timedelta(hours=2),
            ),
        ):
            await live.handle(envelope, records)
        moved = await answer_to_transfer(live.context, answered.correlation_id, MONDAY + timedelta(days=1))
        await live.handle(moved, AnswerHandler(live.context, park=True).on_notice_answered)
        yield live


@pytest.fixture
async def rebuilt(live: Live) -> AsyncIterator[RoutingContext]:
    """The live topics replayed into an empty store on REBUILT_ON."""
    async with migrated_database("rebuild-new", MIGRATIONS) as sessions:
        context = routing_context(sessions, RECIPIENTS, clock=FixedClock(REBUILT_ON))
        replayed = await replay_topics(context, live.read)
        assert [counts.refused for counts in replayed.values()] == [0, 0, 0]
        yield context


async def test_a_rebuilt_store_holds_the_live_times_less_the_handling_lag(live: Live, rebuilt: RoutingContext) -> None:
    for what, sql in TIMES.items():
        live_times, rebuilt_times = await times(live.context, sql), await times(rebuilt, sql)
        assert live_times, what
        # an answer's time is the recipient's, in the event: the same; everything routing stamps is LAG earlier
        lag = timedelta() if what == "answers" else LAG
        assert rebuilt_times == {key: moment - lag for key, moment in live_times.items()}, what
    deadlines = rebuilt.deadlines
    live_due = {key: deadlines.due(at) for key, at in (await times(live.context, TIMES["notices"])).items()}
    assert {key: deadlines.due(at) for key, at in (await times(rebuilt, TIMES["notices"])).items()} == live_due


async def test_the_review_queue_keeps_its_ages_after_a_rebuild(live: Live, rebuilt: RoutingContext) -> None:
    admin = Principal("k", parse_scope("admin"))
    live.clock.at = REBUILT_ON
    ages = [(item["record_id"], item["age_days"], item["age_hours"]) for item in await queue(live.context, admin)]
    assert ages == [(item["record_id"], item["age_days"], item["age_hours"]) for item in await queue(rebuilt, admin)]
    assert ages[0][1:] == (3, 92)  # Monday 12:15 to Friday 09:00


async def test_the_reminder_job_after_a_rebuild_follows_up_what_fell_due_meanwhile_once(
    live: Live, rebuilt: RoutingContext
) -> None:
    """The live job would have reminded Monday's notices on Thursday and Tuesday's on Friday: the job run on
    the rebuilt store on Friday reminds them all, with the same notice ids (recipients see no duplicate)."""
    for moment in (THURSDAY, REBUILT_ON):
        live.clock.at = moment
        await job(live.context).run_once()
    expected = await reminders(live.context)
    assert len(expected) == 2  # Monday's forward, and Tuesday's of the corrected residence

    assert await job(rebuilt).run_once() == 2
    assert await reminders(rebuilt) == expected
    assert await job(rebuilt).run_once() == 0


async def test_a_rebuild_after_the_escalation_day_issues_the_reminder_and_the_escalation(
    live: Live, rebuilt: RoutingContext
) -> None:
    """Rebuilt the Wednesday after, when both forwards are past 2N: each is reminded and escalated, once, as the
    live job did on its days (a notice escalated first was then never reminded)."""
    for day in (26, 27, 30, 1, 2):
        live.clock.at = datetime(2026, 11 if day > 20 else 12, day, 9, tzinfo=SHANGHAI)
        await job(live.context).run_once()
    expected = await follow_ups(live.context)
    assert sorted(kind for kind, _, _ in expected) == ["escalation", "escalation", "reminder", "reminder"]

    assert isinstance(rebuilt.clock, FixedClock)
    rebuilt.clock.at = live.clock.at
    assert await job(rebuilt).run_once() == 4
    assert await follow_ups(rebuilt) == expected
    assert await job(rebuilt).run_once() == 0


def at(envelope: Envelope, moment: datetime) -> Envelope:
    return envelope.model_copy(update={"occurred_at": moment})


async def answer_to_transfer(context: RoutingContext, record_id: str, moment: datetime) -> Envelope:
    """The transfer's recipient answers that the person lives in another district (a forward follows)."""
    async with context.sessions() as session:
        transfer = text("SELECT notice_id, recipient_code FROM notices WHERE record_id = :r AND kind = 'transfer'")
        notice_id, recipient = (await session.execute(transfer, {"r": record_id})).one()
    event = NoticeAnswered(
        notice_id=notice_id,
        record_id=record_id,
        result=FeedbackResult.CORRECTED,
        corrections={"residence_street": WUSHAN},
        answered_by=recipient,
        answered_at=moment,
    )
    return new_envelope(
        event, producer="notification", correlation_id=record_id, occurred_at=moment, keyring=TEST_KEYRING
    )


async def times(context: RoutingContext, sql: str) -> dict[str, datetime]:
    async with context.sessions() as session:
        return dict((await session.execute(text(sql))).all())


async def queue(context: RoutingContext, principal: Principal) -> list[dict[str, Any]]:
    return await views.review_queue(context, principal, limit=10)


def job(context: RoutingContext) -> ReminderJob:
    return ReminderJob(context, deadline_days=3, holidays=[], zone=SHANGHAI)


async def follow_ups(context: RoutingContext) -> list[tuple[str, str, str]]:
    async with context.sessions() as session:
        query = text(
            "SELECT kind, notice_id, recipient_code FROM notices WHERE kind IN ('reminder', 'escalation') "
            "ORDER BY notice_id"
        )
        return [(kind, notice_id, recipient) for kind, notice_id, recipient in (await session.execute(query)).all()]


async def reminders(context: RoutingContext) -> list[tuple[str, str]]:
    async with context.sessions() as session:
        query = text("SELECT notice_id, recipient_code FROM notices WHERE kind = 'reminder' ORDER BY notice_id")
        return [(notice_id, recipient) for notice_id, recipient in (await session.execute(query)).all()]
