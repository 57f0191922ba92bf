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
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.adapters import case_store, decision_store, notice_store
from services.routing.adapters.emitter import Outgoing, Publication, RecordingEmitter
from services.routing.adapters.tables import CaseRow, NoticeRow, RoutedRecord
from services.routing.bootstrap import MIGRATIONS
from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.service_layer import records
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.records import RecordHandler
from shared import identity
from shared.db import bulk, session_factory
from shared.db.processed import ProcessedEvent
from shared.events import Envelope, Event, FeedbackResult, NoticeIssued, RecordRouted, parse_event
from tests.support import kafka
from tests.support.infra import TEST_KEYRING
from tests.support.records import TONGDE, WUSHAN, XINSHI, record
from tests.support.routing import answer_as_recipient, issued, recipients_answer, routing_context
from tests.support.routing_scenarios import (
    follow_ups_after_outflows,
    queues_after_a_correction_that_still_cannot_route,
    relays_after_a_corrected_residence,
    statuses_after_an_outflow,
)
from tests.support.stores import backends_waiting_for_a_lock, logged_statements, migrated_store

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


class StepsEmitter(RecordingEmitter):
    """Records what it is given, and notes each hand-over (the records whose decisions it carries)."""

    def __init__(self, steps: list[str], names: dict[str, str]) -> None:
        super().__init__()
        self._steps, self._names = steps, names

    def publication(self) -> Publication:
        emitter = self

        class Noted:
            async def hand_over(self, events: list[Outgoing]) -> None:
                routed = [emitter._names[e.body["correlation_id"]] for e in events if e.type == RecordRouted.TYPE]
                emitter._steps.append("hand over " + " ".join(routed))
                emitter.events.extend(events)

            async def confirmed(self) -> None:
                emitter._steps.append("confirmed")

            def abandon(self) -> None:
                emitter._steps.append("abandoned")

        return Noted()


def batch_of(bodies: list[dict[str, Any]]) -> tuple[list[tuple[Envelope, Event]], dict[str, str]]:
    """The records as one consumed batch, and each record's name (r0, r1, ...) by record id."""
    envelopes = [kafka.submitted(body) for body in bodies]
    names = {e.correlation_id: f"r{n}" for n, e in enumerate(envelopes)}
    return [(e, parse_event(e, TEST_KEYRING)) for e in envelopes], names


async def test_a_batch_longer_than_a_run_is_written_while_the_next_run_is_decided(
    context: tuple[RoutingContext, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run's statement leaves before the run before is handed to the broker, and all of it is
    confirmed once, before the commit; every record is written and published once, in order."""
    routing, _ = context
    monkeypatch.setattr(records, "RUN", 2)
    steps: list[str] = []
    writing = decision_store.save_routed

    async def save_routed(session: AsyncSession, **rows: Any) -> Any:
        steps.append("write " + " ".join(names[c["record_id"]] for c in rows["cases"]))
        return await writing(session, **rows)

    monkeypatch.setattr(decision_store, "save_routed", save_routed)
    streets = (XINSHI, WUSHAN, XINSHI, "440111005", XINSHI)
    batch, names = batch_of([record(residence_street=s, sequence=30 + n) for n, s in enumerate(streets)])
    emitter = StepsEmitter(steps, names)
    routing = dataclasses.replace(routing, emitter=emitter)
    await RecordHandler(routing).on_records(batch)

    assert steps == [
        "write r0 r1",
        "write r2 r3",
        "hand over r0 r1",
        "write r4",
        "hand over r2 r3",
        "hand over r4",
        "confirmed",
    ]
    assert [e.body["correlation_id"] for e in emitter.events if e.type == RecordRouted.TYPE] == list(names)
    # a transfer for each record that leaves its street, and the inter-district record's forward
    assert len(issued(routing)) == 5
    assert (await count(routing, CaseRow), await count(routing, ProcessedEvent)) == (5, 5)


async def test_an_outflow_marks_the_persons_case_written_in_an_earlier_run(
    context: tuple[RoutingContext, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    routing, _ = context
    monkeypatch.setattr(records, "RUN", 2)
    outflow = record(residence_street=TONGDE, sequence=41, event="outflow")
    outflow["new_residence"] = {"street": XINSHI, "address": "新市街道 棠乐路 8 号"}
    bodies = [record(sequence=41), record(sequence=42), record(sequence=43), outflow]
    batch, _ = batch_of(bodies)
    await RecordHandler(routing).on_records(batch)

    async with routing.sessions() as session:
        inflow = await case_store.load_case(session, batch[0][0].correlation_id, TEST_KEYRING)
    assert inflow is not None
    assert inflow.status.value == "inflow_then_outflow"
    assert (await count(routing, CaseRow), await count(routing, ProcessedEvent)) == (4, 4)


async def test_an_outflow_marks_the_persons_case_decided_earlier_in_its_own_run(
    context: tuple[RoutingContext, list[str]],
) -> None:
    """The inflow and the outflow of one person in one run: the inflow's case is written before the
    outflow marks the person's cases."""
    routing, _ = context
    outflow = record(residence_street=TONGDE, sequence=44, event="outflow")
    outflow["new_residence"] = {"street": XINSHI, "address": "新市街道 棠乐路 8 号"}
    batch, _ = batch_of([record(sequence=44), record(sequence=45), outflow])
    await RecordHandler(routing).on_records(batch)

    async with routing.sessions() as session:
        inflow = await case_store.load_case(session, batch[0][0].correlation_id, TEST_KEYRING)
    assert inflow is not None
    assert inflow.status.value == "inflow_then_outflow"


class SlowHandOver(RecordingEmitter):
    """Hands over as a producer waiting for buffer space would: after a while."""

    def publication(self) -> Publication:
        emitter = self

        class Slow:
            async def hand_over(self, events: list[Outgoing]) -> None:
                await asyncio.sleep(2)
                emitter.events.extend(events)

            async def confirmed(self) -> None:
                return None

            def abandon(self) -> None:
                return None

        return Slow()


async def test_a_second_cancellation_while_a_statement_is_seen_out_leaves_no_transaction_open(
    context: tuple[RoutingContext, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shut down twice over while run 2's statement is in flight: the statement is cancelled and over
    before the rollback, the task ends cancelled, and the batch routes whole when it comes again."""
    routing, _ = context
    monkeypatch.setattr(records, "RUN", 2)
    writing = decision_store.save_routed

    async def slow_write(session: AsyncSession, **rows: Any) -> Any:
        raw = await bulk.driver(session)
        assert raw is not None
        await raw.execute("SELECT pg_sleep(0.6)")
        return await writing(session, **rows)

    monkeypatch.setattr(decision_store, "save_routed", slow_write)
    batch, _ = batch_of([record(residence_street=XINSHI, sequence=70 + n) for n in range(5)])
    handler = RecordHandler(dataclasses.replace(routing, emitter=SlowHandOver()))
    task = asyncio.ensure_future(handler.on_records(batch))
    await asyncio.sleep(0.9)  # run 1 written and being handed over, run 2's statement in flight
    task.cancel()
    await asyncio.sleep(0.05)  # the writer now sees run 2's statement out
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    open_transactions = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'"
    )
    async with routing.sessions() as session:
        assert await session.scalar(open_transactions) == 0
    monkeypatch.setattr(decision_store, "save_routed", writing)
    await asyncio.wait_for(RecordHandler(routing).on_records(batch), 10)  # no lock of the first try held
    assert (await count(routing, CaseRow), await count(routing, ProcessedEvent)) == (5, 5)


class Undecidable(Exception):
    pass


async def test_an_error_while_a_run_is_written_is_the_one_raised_and_nothing_is_kept(
    context: tuple[RoutingContext, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decision fails while the run before it is with the database: the statement is seen out before
    the transaction is rolled back, so the error raised is the decision's, and the batch comes again whole."""
    routing, _ = context
    monkeypatch.setattr(records, "RUN", 2)
    keyed = identity.person_key
    calls = 0

    def person_key(id_number: str, secret: bytes) -> str:
        nonlocal calls
        calls += 1
        if calls == 3:  # the third record: the first run's statement has just left
            raise Undecidable("no key")
        return keyed(id_number, secret)

    monkeypatch.setattr(records, "person_key", person_key)
    batch, _ = batch_of([record(residence_street=XINSHI, sequence=50 + n) for n in range(4)])
    with pytest.raises(Undecidable):
        await RecordHandler(routing).on_records(batch)
    assert (await count(routing, CaseRow), await count(routing, ProcessedEvent)) == (0, 0)
    assert isinstance(routing.emitter, RecordingEmitter)
    assert routing.emitter.events == []  # the first run's events were not handed over before its statement was back

    monkeypatch.setattr(records, "person_key", keyed)
    await RecordHandler(routing).on_records(batch)  # redelivered: routed whole
    assert (await count(routing, CaseRow), await count(routing, ProcessedEvent)) == (4, 4)


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
        stored = await notice_store.notices_of(session, envelope.correlation_id)
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
        found = await case_store.load_case_with_keys(outflow, inflow.correlation_id, TEST_KEYRING)
        assert found is not None
        _, key, _ = found
        await case_store.mark_outflow(
            outflow,
            person_key=key,
            outflow="another",
            left_street=XINSHI,
            observed_at=datetime(2027, 2, 26, 3, tzinfo=UTC),
            now=datetime(2027, 2, 26, 3, tzinfo=UTC),
        )
        answering = asyncio.ensure_future(confirm(routing, transfer))
        await backends_waiting_for_a_lock(routing.sessions.kw["bind"])  # the answer waits for the outflow's row lock
    await answering

    async with routing.sessions() as session:
        case = await case_store.load_case(session, inflow.correlation_id, TEST_KEYRING)
    assert case is not None
    assert case.status.value == "inflow_then_outflow"


@pytest.mark.parametrize("final", [FeedbackResult.CONFIRMED, FeedbackResult.NOT_FOUND])
async def test_the_reporting_bureau_hears_the_final_answer_after_a_correction(
    context: tuple[RoutingContext, list[str]], final: FeedbackResult
) -> None:
    """Both feedback notices at version 2 (the correction's, the new forward's answer) are stored, under the
    unique constraint of migration 0007, and issued."""
    routing, _ = context
    relayed, stored = await relays_after_a_corrected_residence(routing, final)
    answered = f"the residence district answered: {final.value}"
    assert relayed == ["the residence district answered: corrected", answered]
    assert stored == [(2, "", "the residence district answered: corrected"), (2, "answered", answered)]


async def test_no_reminder_nor_escalation_for_a_person_known_to_have_left(
    context: tuple[RoutingContext, list[str]],
) -> None:
    routing, _ = context
    assert await follow_ups_after_outflows(routing) == {
        "stayed": ["reminder", "escalation"],
        "left": [],
        "moved": ["reminder", "escalation"],
    }


@pytest.mark.parametrize("outflow_first", [True, False], ids=["outflow-first", "inflow-first"])
async def test_an_outflow_marks_the_cases_it_leaves_whichever_arrives_first(
    context: tuple[RoutingContext, list[str]], outflow_first: bool
) -> None:
    routing, _ = context
    assert await statuses_after_an_outflow(routing, outflow_first=outflow_first) == {
        "before": "inflow_then_outflow",
        "new_home": "filed",
        "outflow": "inflow_then_outflow",
        "back": "filed",
    }


async def test_a_corrected_reporting_street_stays_with_the_item_that_still_cannot_route(
    context: tuple[RoutingContext, list[str]],
) -> None:
    """The item shows what was said last, the corrected street: it is in that street's bureau's queue, which
    makes the next correction. It kept the first report's street, so it stayed in the other district's queue."""
    routing, _ = context
    assert await queues_after_a_correction_that_still_cannot_route(routing) == {
        "reporting_street": TONGDE,
        "field": "registration.division",
        "queues": {"440106": False, "440111": True},
        "refused": None,
    }


@pytest.mark.parametrize("answers", [1, 6])
async def test_a_batch_of_answers_reads_ahead_once_and_writes_one_statement_an_answer(
    context: tuple[RoutingContext, list[str]], answers: int
) -> None:
    """However many answers a batch holds, their notices and cases are read and locked in one statement each,
    and whether their records have an answer parked in one more; each answer then writes in one statement."""
    routing, statements = context
    submitted = [kafka.submitted(record(residence_street=XINSHI, sequence=40 + n)) for n in range(answers)]
    await RecordHandler(routing).on_records([(e, parse_event(e, TEST_KEYRING)) for e in submitted])
    batch = [recipients_answer(notice, FeedbackResult.CONFIRMED) for notice in issued(routing)]
    assert len(batch) == answers
    statements.clear()
    await AnswerHandler(routing, park=True).on_answers(list(batch))

    said = [" ".join(s.split()).upper() for s in statements]
    assert len([s for s in said if s.startswith("SELECT") and s.endswith("FOR UPDATE")]) == 2, said
    assert len([s for s in said if s.startswith("SELECT") and "FROM PARKED_ANSWERS" in s]) == 1, said
    # and each answer's case and new notices are written in one statement
    assert len([s for s in said if s.startswith('WITH PART0 AS (INSERT INTO "NOTICES"')]) == answers, said
    async with routing.sessions() as session:
        for envelope in submitted:
            case = await case_store.load_case(session, envelope.correlation_id, TEST_KEYRING)
            assert case is not None
            assert case.status.value == "confirmed"
