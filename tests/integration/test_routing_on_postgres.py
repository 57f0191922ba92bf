"""Routing's record handler on PostgreSQL: a batch is one transaction of four statements.

BEGIN, the look-up of events handled before, one statement that writes the
cases, decisions, notices and processed-event rows, COMMIT. The same batch
again is found handled, and nothing is written or published twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.adapters.emitter import RecordingEmitter
from services.routing.adapters.tables import CaseRow, NoticeRow, RoutedRecord
from services.routing.bootstrap import MIGRATIONS
from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.records import RecordHandler
from shared.db import session_factory
from shared.db.processed import ProcessedEvent
from shared.events import NoticeIssued, RecordRouted, parse_event
from tests.support import kafka
from tests.support.infra import TEST_KEYRING
from tests.support.records import WUSHAN, XINSHI, record
from tests.support.routing import routing_context
from tests.support.stores import logged_statements, migrated_store

RECIPIENTS = Recipients.of(["440111"], ExchangeTable({}, ExchangeEndpoint("national", "https://cn")))


@pytest.fixture
async def context(tmp_path: Path) -> AsyncIterator[tuple[RoutingContext, list[str]]]:
    async with migrated_store("postgresql", "routingpg", MIGRATIONS, tmp_path) as engine:
        statements = logged_statements(engine)
        sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        yield routing_context(sessions, RECIPIENTS), statements


async def count(context: RoutingContext, table: Any) -> int:
    async with context.sessions() as session:
        return len((await session.execute(select(table))).scalars().all())


async def test_a_batch_is_four_statements_and_is_routed_once(context: tuple[RoutingContext, list[str]]) -> None:
    routing, statements = context
    handler = RecordHandler(routing)
    warm = kafka.submitted(record(residence_street=XINSHI, sequence=9))
    await handler.on_records([(warm, parse_event(warm, TEST_KEYRING))])  # the connection's first use
    assert isinstance(routing.emitter, RecordingEmitter)
    routing.emitter.events.clear()

    streets = (XINSHI, WUSHAN, XINSHI, "440111005")  # cross-street, inter-district, cross-street, same street
    envelopes = [kafka.submitted(record(residence_street=s, sequence=n)) for n, s in enumerate(streets)]
    batch = [(e, parse_event(e, TEST_KEYRING)) for e in envelopes]
    statements.clear()
    await handler.on_records(batch + batch[:1])  # a duplicate inside the batch, too

    # (SQLAlchemy's event comes before the BEGIN its adapter sends for that first statement)
    sent = [s.split()[0].strip(";").upper() for s in statements]
    assert sorted(sent) == ["BEGIN", "COMMIT", "SELECT", "WITH"], statements
    published = [parse_event(e.envelope, TEST_KEYRING) for e in routing.emitter.events]
    routed = [e for e in published if isinstance(e, RecordRouted)]
    notices = [e for e in published if isinstance(e, NoticeIssued)]
    assert sorted(e.record_id for e in routed) == sorted(e.correlation_id for e in envelopes)
    # the inter-district record: a transfer to the reporting bureau and a forward to the residence's
    assert sorted((n.kind.value, n.recipient_code) for n in notices) == [
        ("forward", "440106"),
        ("transfer", "440111"),
        ("transfer", XINSHI),
        ("transfer", XINSHI),
    ]
    assert (await count(routing, CaseRow), await count(routing, RoutedRecord)) == (5, 5)
    assert (await count(routing, NoticeRow), await count(routing, ProcessedEvent)) == (5, 5)

    routing.emitter.events.clear()
    await handler.on_records(batch)  # re-delivered: handled before, nothing written or published
    assert routing.emitter.events == []
    assert (await count(routing, NoticeRow), await count(routing, ProcessedEvent)) == (5, 5)
