"""Looking into routing from a test: its HTTP reads and its database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from faststream.kafka import KafkaBroker, TestKafkaBroker
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.adapters.emitter import RecordingEmitter
from services.routing.bootstrap import MIGRATIONS
from services.routing.domain.recipients import Recipients
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.parked import ApplyNow, ParkedAnswers
from shared.clock import FixedClock
from shared.db import build_engine, run_migrations, session_factory
from shared.directory import load_directory
from shared.events import (
    Envelope,
    FeedbackResult,
    NoticeAnswered,
    NoticeIssued,
    RejectionReason,
    new_envelope,
    parse_event,
)
from shared.kafka.consuming import subscribe, subscribe_batch
from shared.kafka.failures import DeadLetters
from shared.topics import TopicNames
from tests.support.infra import TEST_KEYRING


def issued(context: RoutingContext) -> list[NoticeIssued]:
    """The NoticeIssued events routing has published in this test (the context's recording emitter)."""
    assert isinstance(context.emitter, RecordingEmitter)
    events = [parse_event(e.envelope, TEST_KEYRING) for e in context.emitter.events]
    return [e for e in events if isinstance(e, NoticeIssued)]


async def answer_as_recipient(
    context: RoutingContext,
    notice: NoticeIssued,
    result: FeedbackResult,
    reason: RejectionReason | None = None,
    *,
    corrections: dict[str, str] | None = None,
) -> None:
    """The notice's recipient answers it, through the answers' use case (as notification publishes it)."""
    envelope, answer = recipients_answer(notice, result, reason, corrections=corrections)
    await AnswerHandler(context).on_notice_answered(envelope, answer)


def recipients_answer(
    notice: NoticeIssued,
    result: FeedbackResult,
    reason: RejectionReason | None = None,
    *,
    corrections: dict[str, str] | None = None,
) -> tuple[Envelope, NoticeAnswered]:
    """The notice's recipient's answer as notification publishes it: the envelope and its event."""
    answer = NoticeAnswered(
        notice_id=notice.notice_id,
        record_id=notice.record_id,
        result=result,
        reason=reason,
        corrections=corrections or {},
        answered_by=notice.recipient_code,
        answered_at=datetime(2027, 2, 26, 3, tzinfo=UTC),
    )
    envelope = new_envelope(answer, producer="notification", correlation_id=answer.record_id, keyring=TEST_KEYRING)
    return envelope, answer


class DeadLetterSink:
    """Where a test's dead letters go: each (body, headers) as sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, dict[str, str]]] = []

    async def publish(self, body: bytes, headers: dict[str, str]) -> None:
        self.sent.append((body, headers))


class RefusingOnce(DeadLetterSink):
    """A sink refusing the dead letter it is given `at`-th (counted from 1), once: Kafka away for a moment."""

    def __init__(self, *, at: int) -> None:
        super().__init__()
        self.at, self.given = at, 0

    async def publish(self, body: bytes, headers: dict[str, str]) -> None:
        self.given += 1
        if self.given == self.at:
            raise ConnectionError("the dead-letter topic refuses")
        await super().publish(body, headers)


TEST_TOPICS = TopicNames("t.")


async def dead_letters_of(
    handler: Callable[..., Awaitable[None]],
    bodies: Iterable[bytes],
    *,
    topic: str,
    group: str,
    batch: bool = False,
) -> list[dict[str, str]]:
    """The headers of what `handler`, subscribed to `topic` as routing subscribes it (in batches with `batch`),
    set aside of `bodies` published there in turn, on FastStream's in-memory test broker."""
    broker, letters = KafkaBroker(), DeadLetterSink()
    register = subscribe_batch if batch else subscribe
    register(
        broker,
        TEST_TOPICS,
        topic=topic,
        group=group,
        handler=handler,
        keyring=TEST_KEYRING,
        dead_letters=DeadLetters(letters.publish),
    )
    async with TestKafkaBroker(broker) as test_broker:
        for body in bodies:
            await test_broker.publish(body, topic=TEST_TOPICS(topic))
    return [headers for _, headers in letters.sent]


def parked_answers_job(
    context: RoutingContext,
    apply_now: ApplyNow,
    sink: DeadLetterSink,
    *,
    max_age: timedelta = timedelta(days=1),
    batch: int = 100,
) -> ParkedAnswers:
    """The parked answers' job as routing builds it, its dead letters sent to `sink`."""
    return ParkedAnswers(
        context, apply_now, DeadLetters(sink.publish), group="routing-answers", max_age=max_age, batch=batch
    )


@asynccontextmanager
async def sqlite_routing(tmp_path: Path, recipients: Recipients) -> AsyncIterator[RoutingContext]:
    """Routing's context (`routing_context`) on a migrated SQLite file under `tmp_path`: the unit tier's store."""
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/routing.db")
    await run_migrations(engine, MIGRATIONS)
    try:
        yield routing_context(session_factory(engine), recipients)
    finally:
        await engine.dispose()


def routing_context(
    sessions: async_sessionmaker[AsyncSession],
    recipients: Recipients,
    *,
    clock: FixedClock | None = None,
    emitter: RecordingEmitter | None = None,
) -> RoutingContext:
    """Routing's handlers' context in a test process: the real directory and the test keys, a fixed
    clock (2027-02-26 02:00 UTC unless given) and an emitter that records instead of publishing."""
    return RoutingContext(
        sessions=sessions,
        emitter=emitter or RecordingEmitter(),
        recipients=lambda: recipients,
        directory=load_directory(),
        clock=clock or FixedClock(datetime(2027, 2, 26, 2, tzinfo=UTC)),
        key_secret=b"test-key",
        keyring=TEST_KEYRING,
    )


async def case_of(
    client: httpx.AsyncClient, base_url: str, record_id: str, headers: dict[str, str]
) -> dict[str, Any] | None:
    """The case as `headers` (an Authorization header) may see it; None while there is none."""
    response = await client.get(f"{base_url}/v1/cases/{record_id}", headers=headers)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sent(case: dict[str, Any], *, version: int | None = None) -> set[tuple[str, str, str | None]]:
    """(kind, recipient, exchange endpoint) of a case's notices (of one version, when given)."""
    return {
        (n["kind"], n["recipient_code"], n["exchange_endpoint"])
        for n in case["notices"]
        if version is None or n["case_version"] == version
    }


def notice_of(case: dict[str, Any], kind: str) -> str:
    (notice_id,) = [n["notice_id"] for n in case["notices"] if n["kind"] == kind]
    return str(notice_id)


async def fetch(database_url: str, sql: str) -> list[asyncpg.Record]:
    """Rows of `sql` from the database behind a SQLAlchemy asyncpg URL."""
    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(sql))
    finally:
        await connection.close()
