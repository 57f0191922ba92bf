"""Routing's handlers on PostgreSQL: a batch is one transaction of four statements.

BEGIN, the look-up of events handled before, one statement that writes the
cases, decisions, notices and processed-event rows, COMMIT. The same batch
again is found handled, and nothing is written or published twice. An answer
and an outflow of the same person, in transactions of their own, leave the
case as either order would; the notices' uniqueness lets an outflow's
registration place hear of the move and of the verification.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.adapters import store
from services.routing.adapters.emitter import RecordingEmitter
from services.routing.adapters.tables import CaseRow, NoticeRow, RoutedRecord
from services.routing.bootstrap import MIGRATIONS
from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.records import RecordHandler
from shared.db import session_factory
from shared.db.processed import ProcessedEvent
from shared.events import FeedbackResult, NoticeIssued, RecordRouted, parse_event
from tests.support import kafka
from tests.support.infra import TEST_KEYRING
from tests.support.records import TONGDE, WUSHAN, XINSHI, record
from tests.support.routing import answer_as_recipient, issued, routing_context
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


async def confirm(context: RoutingContext, notice: NoticeIssued) -> None:
    await answer_as_recipient(context, notice, FeedbackResult.CONFIRMED)


async def test_a_confirmed_outflow_stores_both_registration_notices(context: tuple[RoutingContext, list[str]]) -> None:
    """The outflow's registration notice (the move) and the verification's (the new street confirmed) share
    case version, recipient and kind: both are stored, under the unique constraint of migration 0007."""
    routing, _ = context
    body = record(reporting_street=TONGDE, residence_street=TONGDE, sequence=23, event="outflow")
    body["new_residence"] = {"street": XINSHI, "address": "新市街道 棠乐路 8 号"}
    envelope = kafka.submitted(body)
    await RecordHandler(routing).on_records([(envelope, parse_event(envelope, TEST_KEYRING))])
    (transfer,) = [n for n in issued(routing) if n.kind.value == "transfer"]
    await confirm(routing, transfer)

    async with routing.sessions() as session:
        stored = await store.notices_of(session, envelope.correlation_id)
    assert sorted((n.kind, n.case_version, n.occasion) for n in stored) == [
        ("registration", 1, ""),
        ("registration", 1, "verified"),
        ("transfer", 1, ""),
    ]
    assert {n.notice_id for n in stored} == {n.notice_id for n in issued(routing)}


async def test_an_answer_does_not_overwrite_an_outflow_committed_while_it_waited(
    context: tuple[RoutingContext, list[str]],
) -> None:
    """The answer saves its case whole: it locks the case when it reads it, so an outflow marking the person
    meanwhile (the records' consumer, a transaction of its own) is read, not overwritten with `confirmed`."""
    routing, _ = context
    inflow = kafka.submitted(record(residence_street=XINSHI, sequence=21))
    await RecordHandler(routing).on_records([(inflow, parse_event(inflow, TEST_KEYRING))])
    (transfer,) = issued(routing)
    async with routing.sessions.begin() as outflow:
        key, _ = await store.case_keys(outflow, inflow.correlation_id)
        await store.mark_outflow(outflow, person_key=key, now=datetime(2027, 2, 26, 3, tzinfo=UTC))
        answering = asyncio.ensure_future(confirm(routing, transfer))
        await waiting_for_a_lock(routing)
    await answering

    async with routing.sessions() as session:
        case = await store.load_case(session, inflow.correlation_id, TEST_KEYRING)
    assert case is not None
    assert case.status.value == "inflow_then_outflow"


async def waiting_for_a_lock(context: RoutingContext) -> None:
    """Until a session of this database waits for a row lock (the answer, for the outflow's)."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(20):
        while True:
            async with context.sessions() as session:
                if await session.scalar(waiting):
                    return
            await asyncio.sleep(0.05)
