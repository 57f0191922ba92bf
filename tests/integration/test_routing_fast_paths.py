"""Routing's hot-path adapters on the real infrastructure.

- bulk: a batch's rows in one PostgreSQL statement, inside the session's transaction;
- KafkaEmitter: events handed straight to the broker's aiokafka producer, the same
  body and headers as FastStream's publish, keyed by the event's key.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import asyncpg
import pytest
from aiokafka.errors import MessageSizeTooLargeError, OutOfOrderSequenceNumber
from faststream.kafka import KafkaBroker
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.adapters.emitter import KafkaEmitter, Outgoing
from services.routing.adapters.tables import NoticeRow
from services.routing.bootstrap import MIGRATIONS
from shared.db import bulk
from shared.db.errors import is_data_error
from shared.db.processed import ProcessedEvent
from shared.events import Envelope, RecordRouted, Route, envelope_json
from shared.kafka.admin import ensure_topics
from shared.kafka.broker import aiokafka_producer
from shared.kafka.failures import is_permanent
from shared.kafka.refusals import producer_problem
from shared.topics import TopicNames
from tests.support import kafka
from tests.support.infra import (
    kafka_at,
    kafka_bootstrap,
    migrated_database,
    unique_name,
)

NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
async def sessions() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated_database("routingbulk", MIGRATIONS) as sessions:
        yield sessions


def processed(*ids: str, at: datetime = NOW) -> list[dict[str, object]]:
    return [{"event_id": event_id, "handled_at": at} for event_id in ids]


async def stored(sessions: async_sessionmaker[AsyncSession]) -> dict[str, datetime]:
    async with sessions() as session:
        rows = await session.execute(select(ProcessedEvent))
        return {row.event_id: row.handled_at for row in rows.scalars()}


async def test_rows_are_inserted_skipped_or_overwritten_by_key(sessions: async_sessionmaker[AsyncSession]) -> None:
    later = datetime(2027, 3, 2, tzinfo=UTC)
    async with sessions.begin() as session:
        raw = await bulk.driver(session)
        assert raw is not None
        await bulk.insert(raw, ProcessedEvent, processed("a", "b"))
        await bulk.insert(raw, ProcessedEvent, processed("b", "c", at=later), key="event_id")
        assert await bulk.existing(raw, ProcessedEvent, "event_id", ["a", "c", "d"]) == {"a", "c"}
    assert await stored(sessions) == {"a": NOW, "b": NOW, "c": later}

    async with sessions.begin() as session:
        raw = await bulk.driver(session)
        assert raw is not None
        await bulk.insert(raw, ProcessedEvent, processed("a", "d", at=later), key="event_id", overwrite=True)
    assert await stored(sessions) == {"a": later, "b": NOW, "c": later, "d": later}


async def test_the_rows_belong_to_the_session_transaction(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        raw = await bulk.driver(session)  # the first statement of the transaction
        assert raw is not None
        await bulk.insert(raw, ProcessedEvent, processed("a"))
        await session.rollback()
    assert await stored(sessions) == {}


async def test_naive_timestamps_are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        raw = await bulk.driver(session)
        assert raw is not None
        with pytest.raises(ValueError, match="naive"):
            await bulk.insert(raw, ProcessedEvent, processed("a", at=datetime(2027, 3, 1, 9)))


async def test_every_row_of_a_batch_holds_the_same_columns(sessions: async_sessionmaker[AsyncSession]) -> None:
    rows: list[dict[str, object]] = [*processed("a"), {"event_id": "b"}]  # b's handled_at would be read as NULL
    async with sessions.begin() as session:
        raw = await bulk.driver(session)
        assert raw is not None
        with pytest.raises(ValueError, match="same columns"):
            await bulk.insert(raw, ProcessedEvent, rows)


@pytest.mark.parametrize(
    "handled_at",
    [
        Decimal("1.5"),  # no JSON form
        "2027-03-01 09:00",  # text where a timestamp belongs
        datetime(2027, 3, 1, 9),  # naive
        datetime(2027, 3, 1, 9, tzinfo=timezone(timedelta(hours=8, minutes=5, seconds=43))),  # orjson writes minutes
    ],
)
async def test_a_value_the_batch_cannot_carry_is_refused_for_good(
    sessions: async_sessionmaker[AsyncSession], handled_at: object
) -> None:
    """Refused before the statement, as a data error: a consumer dead-letters it instead of retrying for ever."""
    async with sessions.begin() as session:
        raw = await bulk.driver(session)
        assert raw is not None
        with pytest.raises(bulk.UnwritableValue) as caught:
            await bulk.insert(raw, ProcessedEvent, [{"event_id": "a", "handled_at": handled_at}])
    assert is_permanent(caught.value)
    assert await stored(sessions) == {}


async def test_instants_keep_their_offset_on_the_way_in(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The rows travel as JSON text: an instant given at +08:00 is the same instant stored."""
    beijing = datetime(2027, 3, 1, 17, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
    async with sessions.begin() as session:
        raw = await bulk.driver(session)
        assert raw is not None
        await bulk.insert(raw, ProcessedEvent, processed("同德-1", at=beijing))
    assert await stored(sessions) == {"同德-1": beijing}
    assert (await stored(sessions))["同德-1"].astimezone(UTC) == datetime(2027, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


async def test_a_value_too_long_is_a_data_error_like_sqlalchemys(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        raw = await bulk.driver(session)
        assert raw is not None
        with pytest.raises(asyncpg.PostgresError) as caught:
            await bulk.insert(raw, ProcessedEvent, processed("x" * 37))
        assert is_data_error(caught.value)
        await session.rollback()


def routed(record_id: str, key: str) -> Outgoing:
    event = RecordRouted(
        record_id=record_id,
        route=Route.CROSS_STREET,
        reporting_street="440111005",
        residence_street="440111002",
        observed_at=NOW,
        decided_at=NOW,
    )
    return Outgoing(envelope_json(event, producer="routing", correlation_id=record_id), RecordRouted.TOPIC, key)


async def test_the_emitter_publishes_the_body_and_headers_faststream_would() -> None:
    bootstrap = kafka_bootstrap()
    topics = TopicNames(f"{unique_name('emit')}.")
    await ensure_topics(kafka_at(bootstrap), [topics(RecordRouted.TOPIC)], partitions=3, replication=1)
    broker = KafkaBroker(bootstrap, enable_idempotence=True, acks="all")
    events = [routed(str(uuid.uuid4()), key) for key in ("person-a", "person-b", "person-a")]
    await broker.start()
    try:
        assert aiokafka_producer(broker) is not None, "a started broker's producer is used directly"
        await KafkaEmitter(broker, topics).emit(events)
    finally:
        await broker.stop()

    messages = await kafka.read_raw(bootstrap, topics(RecordRouted.TOPIC))
    by_id = {Envelope.model_validate_json(body).event_id: headers for body, headers in messages}
    assert len(messages) == len(events)
    for event in events:
        assert by_id[event.envelope.event_id] == {
            "content-type": "application/json",
            "correlation_id": event.body["correlation_id"],
            "event_type": RecordRouted.TYPE,
            "event_id": event.body["event_id"],
        }
    assert {Envelope.model_validate_json(body).model_dump(mode="json")["event_id"] for body, _ in messages} == {
        e.body["event_id"] for e in events
    }


async def small_topic(prefix: str) -> tuple[str, TopicNames, str]:
    """A topic of one partition that takes no message over 4,000 bytes: a padded event is refused by the broker."""
    bootstrap = kafka_bootstrap()
    topics = TopicNames(f"{unique_name(prefix)}.")
    name = topics(RecordRouted.TOPIC)
    configs = {name: {"max.message.bytes": "4000"}}
    await ensure_topics(kafka_at(bootstrap), [name], partitions=1, replication=1, configs=configs)
    return bootstrap, topics, name


def padded(key: str) -> Outgoing:
    event = routed(str(uuid.uuid4()), key)
    return Outgoing({**event.body, "padding": "x" * 6000}, event.topic, event.key)


async def published_ids(bootstrap: str, name: str) -> list[uuid.UUID]:
    return [Envelope.model_validate_json(body).event_id for body, _ in await kafka.read_raw(bootstrap, name)]


async def test_after_kafka_refuses_a_batch_the_emitter_publishes_on_without_a_restart() -> None:
    """aiokafka 0.14 counts a refused batch's sequence numbers as used: every later batch of the partition would be
    refused as out of sequence until a restart. The emitter's next hand-over takes a new producer id once the sends
    before have settled, and the partition publishes on; /readyz has nothing to say."""
    bootstrap, topics, name = await small_topic("emit")
    broker = KafkaBroker(bootstrap, enable_idempotence=True, acks="all")
    before, after = routed(str(uuid.uuid4()), "person-a"), routed(str(uuid.uuid4()), "person-b")
    await broker.start()
    try:
        emitter = KafkaEmitter(broker, topics)
        await emitter.emit([before])
        with pytest.raises(MessageSizeTooLargeError):
            await emitter.emit([padded("person-c")])
        await emitter.emit([after])
        assert producer_problem(broker) is None
    finally:
        await broker.stop()
    assert await published_ids(bootstrap, name) == [before.envelope.event_id, after.envelope.event_id]


async def test_a_unit_of_work_whose_event_was_refused_sends_nothing_on_the_new_producer_id() -> None:
    """One unit of work hands a person's event over, which the broker refuses; before it goes on, another unit of
    work meets the broken sequence and the producer takes a new id. The first unit's next run, the person's later
    event, must not leave on the new id ahead of the earlier one, which comes again with its unit of work: the
    hand-over confirms what was sent on the old id first, and fails."""
    bootstrap, topics, name = await small_topic("renewed")
    broker = KafkaBroker(bootstrap, enable_idempotence=True, acks="all")
    before, other = routed(str(uuid.uuid4()), "person-c"), routed(str(uuid.uuid4()), "person-b")
    later = routed(str(uuid.uuid4()), "person-a")
    await broker.start()
    try:
        emitter = KafkaEmitter(broker, topics)
        await emitter.emit([before])  # the broker knows the producer's sequence in the partition
        first = emitter.publication()
        await first.hand_over([padded("person-a")])
        sent = [send for send in first.unsettled() if isinstance(send, asyncio.Future)]  # type: ignore[attr-defined]
        await asyncio.wait(sent)  # refused, and nobody has looked yet
        with pytest.raises(OutOfOrderSequenceNumber):  # the same partition, on the old id
            await emitter.emit([other])
        await emitter.emit([other])  # the new id: the partition publishes again
        with pytest.raises(MessageSizeTooLargeError):
            await first.hand_over([later])
        first.abandon()
    finally:
        await broker.stop()
    assert await published_ids(bootstrap, name) == [before.envelope.event_id, other.envelope.event_id]


async def test_a_publication_keeps_each_persons_events_in_order_across_its_hand_overs() -> None:
    """Routing hands a batch's events over a run at a time and confirms them once: one person's
    events land in one partition in the order they were handed over."""
    bootstrap = kafka_bootstrap()
    topics = TopicNames(f"{unique_name('runs')}.")
    await ensure_topics(kafka_at(bootstrap), [topics(RecordRouted.TOPIC)], partitions=3, replication=1)
    broker = KafkaBroker(bootstrap, enable_idempotence=True, acks="all")
    runs = [[routed(str(uuid.uuid4()), key) for key in keys] for keys in (["a", "b", "a"], ["b"], ["a", "a", "b"])]
    await broker.start()
    try:
        publication = KafkaEmitter(broker, topics).publication()
        for run in runs:
            await publication.hand_over(run)
        await publication.confirmed()
    finally:
        await broker.stop()

    placed = await kafka.read_placed(bootstrap, topics(RecordRouted.TOPIC))
    for key in ("a", "b"):
        handed = [e.body["event_id"] for run in runs for e in run if e.key == key]
        landed = [(partition, json.loads(body)["event_id"]) for partition, body, _ in placed]
        assert [event_id for _, event_id in landed if event_id in handed] == handed
        assert len({partition for partition, event_id in landed if event_id in handed}) == 1


async def test_a_notice_clashing_on_any_unique_rule_is_skipped(sessions: async_sessionmaker[AsyncSession]) -> None:
    # the same record, version, recipient and kind under another notice id: the notice is given once
    def notice(notice_id: str) -> dict[str, object]:
        return {
            "notice_id": notice_id,
            "record_id": "r1",
            "case_version": 1,
            "kind": "transfer",
            "recipient_code": "440111008",
            "exchange_endpoint": None,
            "sender_code": "440111005",
            "reason": "lives here",
            "awaits_answer": True,
            "issued_at": NOW,
        }

    async with sessions.begin() as session:
        raw = await bulk.driver(session)
        assert raw is not None
        await bulk.insert(raw, NoticeRow, [notice("n1")], key="notice_id")
        await bulk.insert(raw, NoticeRow, [notice("n2")], key="notice_id")
    async with sessions() as session:
        assert [row.notice_id for row in (await session.execute(select(NoticeRow))).scalars()] == ["n1"]


async def test_rows_of_several_tables_go_in_as_one_statement(sessions: async_sessionmaker[AsyncSession]) -> None:
    def notice(notice_id: str, recipient: str) -> dict[str, object]:
        return {
            "notice_id": notice_id,
            "record_id": "r1",
            "case_version": 1,
            "kind": "transfer",
            "recipient_code": recipient,
            "exchange_endpoint": None,
            "sender_code": "440111005",
            "reason": "lives here",
            "awaits_answer": True,
            "issued_at": NOW,
        }

    later = datetime(2027, 3, 2, tzinfo=UTC)
    async with sessions.begin() as session:
        raw = await bulk.driver(session)
        assert raw is not None
        await bulk.insert(raw, NoticeRow, [notice("n1", "440111008")], key="notice_id")
        await bulk.insert(raw, ProcessedEvent, processed("a"))
        inserted = await bulk.insert_together(
            raw,
            [
                bulk.Rows(
                    NoticeRow,
                    [notice("n1", "440111008"), notice("n2", "440111009")],
                    key="notice_id",
                    returning="notice_id",
                ),
                bulk.Rows(ProcessedEvent, processed("a", "b", at=later), key="event_id", overwrite=True),
                bulk.Rows(ProcessedEvent, []),  # nothing: left out
            ],
        )
        assert inserted == ["n2"]  # n1 was there: not inserted, not returned
        assert await bulk.insert_together(raw, [bulk.Rows(ProcessedEvent, processed("c"))]) == []
        assert await bulk.insert_together(raw, []) == []
        assert await bulk.insert_together(raw, [bulk.Rows(ProcessedEvent, [])]) == []
        with pytest.raises(ValueError, match="no part has rows"):
            bulk.statement([bulk.Rows(ProcessedEvent, [])])
        with pytest.raises(ValueError, match="at most one"):
            await bulk.insert_together(
                raw, [bulk.Rows(t, r, returning="x") for t, r in ((ProcessedEvent, processed("d")),) * 2]
            )
        with pytest.raises(ValueError, match="no part returns"):
            await bulk.insert_together(raw, [bulk.Rows(ProcessedEvent, processed("d"), with_returned="event_id")])
    assert await stored(sessions) == {"a": later, "b": later, "c": NOW}
    async with sessions() as session:
        assert sorted(row.notice_id for row in (await session.execute(select(NoticeRow))).scalars()) == ["n1", "n2"]


async def test_a_few_rows_update_a_grown_table_by_its_key_not_by_scanning_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The planner takes a set-returning function for 100 rows: told nothing else, it hashed a batch of
    three against a scan of a table of thousands, for every batch (notification's push attempts, 6.5 ms
    a batch on a young deployment). Given the batch's count, it looks each row up by its key."""
    async with sessions.begin() as session:
        raw = await bulk.driver(session)
        assert raw is not None
        await bulk.insert(raw, ProcessedEvent, processed(*(f"event-{i}" for i in range(5000))))
        later = processed("event-1", "event-2", "event-3", at=NOW + timedelta(hours=1))
        sql, arguments = bulk.statement([bulk.Rows(ProcessedEvent, later, update_by="event_id")])
        plan = "\n".join(row[0] for row in await raw.fetch(f"EXPLAIN {sql}", *arguments))
        assert "Seq Scan" not in plan
        assert "Index Scan using processed_events_pkey" in plan
        await raw.execute(sql, *arguments)
    assert (await stored(sessions))["event-2"] == NOW + timedelta(hours=1)
