"""Routing's use cases on the embedded SQLite store (`make run-sqlite`), with fakes for the rest.

The same handlers as in production; the emitter records instead of publishing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.adapters import store
from services.routing.adapters.emitter import RecordingEmitter
from services.routing.bootstrap import MIGRATIONS
from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.feedback import UnknownNotice, give_feedback
from services.routing.service_layer.records import RecordHandler
from shared.clock import FixedClock
from shared.db import build_engine, run_migrations, session_factory
from shared.directory import load_directory
from shared.events import FeedbackResult, NoticeAnswered, NoticeIssued, new_envelope, parse_event
from shared.kafka.failures import PermanentFailure
from tests.support import kafka
from tests.support.infra import TEST_KEYRING
from tests.support.records import WUSHAN, XINSHI, record

RECIPIENTS = Recipients.of(["440111"], ExchangeTable({}, ExchangeEndpoint("national", "https://cn")))


@pytest.fixture
async def context(tmp_path: Path) -> AsyncIterator[RoutingContext]:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/routing.db")
    await run_migrations(engine, MIGRATIONS)
    sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
    yield RoutingContext(
        sessions=sessions,
        emitter=RecordingEmitter(),
        recipients=lambda: RECIPIENTS,
        directory=load_directory(),
        clock=FixedClock(datetime(2027, 2, 26, 2, tzinfo=UTC)),
        key_secret=b"test-key",
        keyring=TEST_KEYRING,
    )
    await engine.dispose()


def kinds(context: RoutingContext) -> list[str]:
    assert isinstance(context.emitter, RecordingEmitter)
    events = [parse_event(e.envelope, TEST_KEYRING) for e in context.emitter.events]
    return sorted(e.kind.value for e in events if isinstance(e, NoticeIssued))


async def test_a_batch_is_routed_once_and_a_correction_routes_again(context: RoutingContext) -> None:
    envelopes = [kafka.submitted(record(residence_street=s, sequence=n)) for n, s in ((1, XINSHI), (2, WUSHAN))]
    batch = [(e, parse_event(e, TEST_KEYRING)) for e in envelopes]
    await RecordHandler(context).on_records(batch + batch)  # duplicates inside one batch, too
    await RecordHandler(context).on_records(batch)
    assert kinds(context) == ["forward", "transfer", "transfer"]

    async with context.sessions() as session:
        case = await store.load_case(session, envelopes[0].correlation_id, TEST_KEYRING)
        found = await store.load_notice(session, cross_street_notice_id(context))
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


def cross_street_notice_id(context: RoutingContext) -> str:
    assert isinstance(context.emitter, RecordingEmitter)
    notices = [parse_event(e.envelope, TEST_KEYRING) for e in context.emitter.events]
    (cross,) = [n for n in notices if isinstance(n, NoticeIssued) and n.recipient_code == XINSHI]
    assert isinstance(cross, NoticeIssued)
    return cross.notice_id


async def test_feedback_is_published_on_the_partition_of_the_persons_other_events(context: RoutingContext) -> None:
    envelope = kafka.submitted(record(residence_street=XINSHI, sequence=3))
    await RecordHandler(context).on_records([(envelope, parse_event(envelope, TEST_KEYRING))])
    notice_id = cross_street_notice_id(context)
    assert isinstance(context.emitter, RecordingEmitter)
    (person_key,) = {o.key for o in context.emitter.events}

    answered = await give_feedback(
        context, notice_id, result=FeedbackResult.CONFIRMED, corrections={}, reason=None, note="seen at home"
    )

    published = context.emitter.events[-1]
    assert (published.topic, published.key, published.envelope) == (NoticeAnswered.TOPIC, person_key, answered)
    assert person_key != envelope.correlation_id  # not the record id, as routing keyed answers before


async def test_feedback_on_an_unknown_notice_is_refused_before_anything_is_published(context: RoutingContext) -> None:
    with pytest.raises(UnknownNotice):
        await give_feedback(
            context, "no-such-notice", result=FeedbackResult.CONFIRMED, corrections={}, reason=None, note=None
        )
    assert isinstance(context.emitter, RecordingEmitter)
    assert context.emitter.events == []
