"""Routing's service layer with a fake publisher and an embedded SQLite store:
one decision per record, deterministic outgoing ids, duplicates skipped."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.routing.bootstrap import MIGRATIONS
from services.routing.handlers import RecordRouter
from shared.db import build_engine, run_migrations, session_factory
from shared.events import (
    CaseRecord,
    Envelope,
    NoticeIssued,
    RecordRouted,
    RecordSubmitted,
    new_envelope,
    parse_event,
)
from tests.support.fakes import RecordingPublisher
from tests.support.records import TONGDE, WUSHAN, XINSHI, record


@pytest.fixture
async def router(tmp_path: Path) -> AsyncIterator[tuple[RecordRouter, RecordingPublisher]]:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/routing.db")
    await run_migrations(engine, MIGRATIONS)
    publisher = RecordingPublisher()
    yield RecordRouter(session_factory(engine), publisher, key_secret=b"k"), publisher
    await engine.dispose()


def submitted(residence: str, sequence: int = 1) -> tuple[Envelope, RecordSubmitted]:
    event = RecordSubmitted(
        record_id=str(uuid.uuid4()),
        received_at=datetime.now(UTC),
        record=CaseRecord.model_validate(
            record(reporting_street=TONGDE, residence_street=residence, sequence=sequence)
        ),
    )
    return new_envelope(event, producer="test", correlation_id=event.record_id), event


async def test_cross_street_record_is_routed_and_notified(router: tuple[RecordRouter, RecordingPublisher]) -> None:
    handler, publisher = router
    envelope, event = submitted(XINSHI)
    await handler.on_record_submitted(envelope, event)
    [routed] = publisher.of_type("RecordRouted")
    [notice] = publisher.of_type("NoticeIssued")
    routed_event, notice_event = parse_event(routed), parse_event(notice)
    assert isinstance(routed_event, RecordRouted)
    assert isinstance(notice_event, NoticeIssued)
    assert routed_event.route.value == "cross-street"
    assert notice_event.recipient_code == XINSHI
    assert routed.event_id == uuid.uuid5(envelope.event_id, "RecordRouted")
    assert all(key == publisher.published[0][1] for _, key, _ in publisher.published)
    assert event.record.person.id_number not in publisher.published[0][1]


async def test_redelivered_event_has_no_second_effect(router: tuple[RecordRouter, RecordingPublisher]) -> None:
    handler, publisher = router
    envelope, event = submitted(WUSHAN)
    await handler.on_record_submitted(envelope, event)
    await handler.on_record_submitted(envelope, event)
    assert len(publisher.of_type("NoticeIssued")) == 1
    notice = parse_event(publisher.of_type("NoticeIssued")[0])
    assert isinstance(notice, NoticeIssued)
    assert notice.recipient_code == "440106"
