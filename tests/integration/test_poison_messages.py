"""A poisoned message stops nothing, on real Kafka and PostgreSQL.

- A value the database refuses (too long for its column) is dead-lettered
  once and the next message of the same partition is handled.
- An outbox row Kafka will never take (over its message size) is set aside
  with its error; later rows of its person key wait behind it, other keys
  flow, and an admin's discard lets the held rows go.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, OutOfOrderSequenceNumber
from fastapi import FastAPI, Request
from faststream.kafka import KafkaBroker
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from services.cli.dead_letter_replays import Read, Refused, replay_plan
from services.notification.adapters.tables import OutboxRow
from services.notification.bootstrap import MIGRATIONS
from shared.auth import Principal
from shared.auth.scopes import Role, Scope, ScopeKind
from shared.db import build_engine, outbox_sends, run_migrations, session_factory
from shared.db.outbox import OutboxRelay
from shared.db.outbox_set_aside import SetAsideRows
from shared.events import Envelope, Event
from shared.http.outbox_admin import outbox_admin_router
from shared.http.problems import install_problem_handlers
from shared.kafka.admin import ensure_topics
from shared.kafka.broker import DEAD_LETTER_BODY_MAX, aiokafka_producer
from shared.kafka.consuming import subscribe
from shared.kafka.failures import TRUNCATED_HEADER, open_dead_letter
from shared.kafka.refusals import producer_problem
from shared.topics import DEAD_LETTER, NOTICES_ANSWERED, RECORDS_SUBMITTED, TopicNames
from tests.support import kafka
from tests.support.infra import (
    TEST_KEYRING,
    create_database,
    drop_database,
    kafka_bootstrap,
    kafka_connection,
    unique_name,
)
from tests.support.logs import logged_by
from tests.support.records import record
from tests.support.waiting import eventually


@pytest.fixture
async def database() -> AsyncIterator[AsyncEngine]:
    name = unique_name("poison_")
    engine = build_engine(await create_database(name))
    try:
        yield engine
    finally:
        await engine.dispose()
        await drop_database(name)


@pytest.fixture
async def topics() -> TopicNames:
    names = TopicNames(unique_name("poison.") + ".")
    await ensure_topics(kafka_connection(), names.all(), partitions=1, replication=1)
    return names


async def test_a_value_too_long_for_its_column_is_dead_lettered_once_and_the_partition_goes_on(
    database: AsyncEngine, topics: TopicNames
) -> None:
    async with database.begin() as connection:
        await connection.execute(text("CREATE TABLE seen (record_id VARCHAR(8) PRIMARY KEY)"))
    attempts: list[str] = []

    async def handler(envelope: Envelope, _: Event) -> None:
        attempts.append(envelope.correlation_id)
        async with database.begin() as connection:
            await connection.execute(text("INSERT INTO seen VALUES (:id)"), {"id": envelope.correlation_id})

    broker = KafkaBroker(kafka_bootstrap())
    subscribe(broker, topics, topic=RECORDS_SUBMITTED, group="poison", handler=handler, keyring=TEST_KEYRING)
    poison = kafka.submitted(record(sequence=1), record_id="far-too-long-for-eight")
    good = kafka.submitted(record(sequence=2), record_id="fits")
    await broker.start()
    try:
        # one key: one partition, the poison first
        messages = [("one-person", e.model_dump_json().encode()) for e in (poison, good)]
        await kafka.publish_raw(kafka_bootstrap(), topics(RECORDS_SUBMITTED), messages)

        async def stored() -> list[str]:
            async with database.connect() as connection:
                return list((await connection.execute(text("SELECT record_id FROM seen"))).scalars())

        assert await eventually(stored) == ["fits"]
        letters = await eventually(lambda: kafka.read_raw(kafka_bootstrap(), topics(DEAD_LETTER)))
    finally:
        await broker.stop()
    assert len(letters) == 1
    body, headers = letters[0]
    assert Envelope.model_validate_json(open_dead_letter(TEST_KEYRING, body, headers)).event_id == poison.event_id
    assert "SQLSTATE 22001" in headers["error"]  # string_data_right_truncation, the value not quoted
    assert headers["consumer_group"] == topics("poison")  # who set it aside, as the broker knows the group
    assert attempts.count("far-too-long-for-eight") == 1  # dead-lettered at once, not retried


async def test_an_over_long_correction_is_dead_lettered_and_the_next_answer_handled(topics: TopicNames) -> None:
    over_long = answered_envelope("over-long", {"name": "王" * 51})
    fine = answered_envelope("fine", {"name": "王" * 50})
    letters = await set_aside_before_the_next(topics, NOTICES_ANSWERED, json_of(over_long), json_of(fine), "fine")
    assert [h["error_type"] for _, h in letters] == ["ValidationError"]
    assert "王" not in letters[0][1]["error"]


async def set_aside_before_the_next(
    topics: TopicNames, topic: str, bad: bytes | None, good: bytes, good_id: str
) -> list[tuple[bytes, dict[str, str]]]:
    """Send `bad`, then `good` (whose correlation id is `good_id`), of one person to a subscriber of `topic`:
    the good one must be handled (the partition went on); returns the dead letters."""
    handled: list[str] = []

    async def handler(envelope: Envelope, _: Event) -> None:
        handled.append(envelope.correlation_id)

    broker = KafkaBroker(kafka_bootstrap())
    subscribe(broker, topics, topic=topic, group="poison", handler=handler, keyring=TEST_KEYRING)
    await broker.start()
    producer = AIOKafkaProducer(**kafka_connection().options())
    await producer.start()
    try:
        await producer.send_and_wait(topics(topic), bad, key=b"one-person")
        await producer.send_and_wait(topics(topic), good, key=b"one-person")
        assert await eventually(lambda: handled, within=30) == [good_id]
        letters: list[tuple[bytes, dict[str, str]]] = await eventually(
            lambda: kafka.read_raw(kafka_bootstrap(), topics(DEAD_LETTER))
        )
        return letters
    finally:
        await producer.stop()
        await broker.stop()


def a_good_record() -> bytes:
    """A record that is handled, sent after a bad one of the same person."""
    return kafka.submitted(record(sequence=1), record_id="after-the-bad-one").model_dump_json().encode()


async def test_a_message_without_a_value_is_dead_lettered_and_the_partition_goes_on(topics: TopicNames) -> None:
    # a record whose value is null (a tombstone, a console producer's null) raised TypeError in bytes(None):
    # never dead-lettered, the batch was delivered again at once, for ever, and the partition held
    letters = await set_aside_before_the_next(topics, RECORDS_SUBMITTED, None, a_good_record(), "after-the-bad-one")
    assert [(open_dead_letter(TEST_KEYRING, body, headers), headers["error_type"]) for body, headers in letters] == [
        (b"", "ValidationError")
    ]


async def test_a_message_too_large_to_dead_letter_whole_is_set_aside_by_its_start(topics: TopicNames) -> None:
    # sealed, a dead letter is a third larger than its message: a bad message over ~760 KB made a dead letter
    # Kafka refused, so it was retried for ever and held its partition
    huge = b"{" + b"x" * (900 * 1024)  # no event: undecodable, as a writer without the contract could send
    [(body, headers)] = await set_aside_before_the_next(
        topics, RECORDS_SUBMITTED, huge, a_good_record(), "after-the-bad-one"
    )
    assert headers[TRUNCATED_HEADER] == str(len(huge))
    assert open_dead_letter(TEST_KEYRING, body, headers) == huge[:DEAD_LETTER_BODY_MAX]
    with pytest.raises(Refused, match=f"keeps only the start of a message of {len(huge)} bytes"):
        replay_plan(Read(place="0:0", headers=headers, value=body), TEST_KEYRING, topics)


def answered_envelope(record_id: str, corrections: dict[str, str]) -> dict[str, Any]:
    """A NoticeAnswered envelope built by hand, as a publisher without the contract could send it."""
    return {
        "event_id": str(uuid.uuid4()),
        "type": "NoticeAnswered",
        "version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "producer": "elsewhere",
        "correlation_id": record_id,
        "payload": {
            "notice_id": str(uuid.uuid4()),
            "record_id": record_id,
            "result": "corrected",
            "corrections": corrections,
            "answered_by": "440111008",
            "answered_at": datetime.now(UTC).isoformat(),
        },
    }


def json_of(envelope: dict[str, Any]) -> bytes:
    return Envelope.model_validate(envelope).model_dump_json().encode()


def outbox_row(key: str, *, filler: int = 0) -> OutboxRow:
    envelope = {"event_id": str(uuid.uuid4()), "type": "Test", "correlation_id": key, "payload": "x" * filler}
    return OutboxRow(topic="test.events", key=key, envelope=envelope, created_at=datetime.now(UTC))


@pytest.mark.parametrize("keep_sent", [True, False], ids=["sent-rows-kept", "sent-rows-deleted"])
async def test_an_outbox_row_kafka_never_takes_is_set_aside_and_holds_only_its_own_key(
    database: AsyncEngine, topics: TopicNames, keep_sent: bool
) -> None:
    await run_migrations(database, MIGRATIONS)
    await ensure_topics(kafka_connection(), [topics("test.events")], partitions=1, replication=1)
    sessions = session_factory(database)
    too_big, held, other = outbox_row("person-a", filler=2_000_000), outbox_row("person-a"), outbox_row("person-b")
    async with sessions.begin() as session:
        session.add_all([too_big, held, other])
    broker = KafkaBroker(kafka_bootstrap(), enable_idempotence=True)
    await broker.connect()
    relay = OutboxRelay(sessions, broker, topics, OutboxRow, keep_sent=keep_sent)
    rows = SetAsideRows(sessions, OutboxRow, wake=relay.wake)
    everyone = {too_big.id, held.id, other.id}
    try:
        assert await relay.deliver_pending() == 3  # no exception: the relay is not stuck
        assert await relay.deliver_pending() == 0  # the held row waits; nothing else is pending
        listed = await rows.rows(limit=10)
        assert [(r["id"], r["holds_back"]) for r in listed] == [(too_big.id, 1)]
        assert "MessageSizeTooLarge" in listed[0]["error"]
        assert await sent_ids(sessions, everyone, keep_sent) == {other.id}

        assert await admin_call(rows, "admin", f"/v1/admin/outbox/set-aside/{too_big.id}/discard") == 200
        assert await relay.deliver_pending() == 1
        assert await sent_ids(sessions, everyone, keep_sent) == {other.id, held.id}
        assert [r["id"] for r in await rows.rows(limit=10, discarded=True)] == [too_big.id]  # kept, as discarded
        published = await kafka.read_raw(kafka_bootstrap(), topics("test.events"))
    finally:
        await broker.stop()
    bodies = [body for body, _ in published]
    assert len(bodies) == 2
    assert all(str(too_big.envelope["event_id"]).encode() not in body for body in bodies)


async def small_messages_topic(topics: TopicNames) -> str:
    """The test's topic taking messages of 4000 bytes at most (a batch of them is one message to the broker)."""
    name = topics("test.events")
    await ensure_topics(
        kafka_connection(), [name], partitions=1, replication=1, configs={name: {"max.message.bytes": "4000"}}
    )
    return name


def services_broker(**options: Any) -> KafkaBroker:
    """An idempotent producer with acks=all and 256 KiB batches, as build_broker makes it."""
    return KafkaBroker(kafka_bootstrap(), enable_idempotence=True, acks="all", **{"max_batch_size": 262144, **options})


async def add_rows(sessions: Any, *rows: OutboxRow) -> None:
    async with sessions.begin() as session:
        session.add_all(rows)


async def test_after_kafka_refuses_a_batch_the_producer_takes_a_new_id_and_the_partition_publishes_on(
    database: AsyncEngine, topics: TopicNames
) -> None:
    # aiokafka 0.14 counts a refused batch's sequence numbers as used: with the same producer id every later
    # batch of the partition was refused as out of sequence until the service restarted
    await run_migrations(database, MIGRATIONS)
    await small_messages_topic(topics)
    sessions = session_factory(database)
    first, too_big, after = (outbox_row(key, filler=size) for key, size in (("p-a", 100), ("p-b", 6_000), ("p-c", 100)))
    broker = services_broker()
    await broker.connect()
    relay = OutboxRelay(sessions, broker, topics, OutboxRow)
    try:
        for row in (first, too_big, after):  # a pass each: the producer's first batch for the partition is taken,
            await add_rows(sessions, row)  # the second refused alone (its own fault: set aside), the third taken
            assert await relay.deliver_pending() == 1
        assert producer_problem(broker) is None
    finally:
        await broker.stop()
    listed = await SetAsideRows(sessions, OutboxRow, wake=relay.wake).rows(limit=10)
    assert [r["id"] for r in listed] == [too_big.id]
    assert await sent_ids(sessions, {first.id, too_big.id, after.id}, keep_sent=True) == {first.id, after.id}


async def test_only_the_row_too_large_is_set_aside_of_a_request_kafka_refused_whole(
    database: AsyncEngine, topics: TopicNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one partition, one request: Kafka refuses the whole batch for the one row over the topic's size
    await run_migrations(database, MIGRATIONS)
    name = await small_messages_topic(topics)
    sessions = session_factory(database)
    warm = outbox_row("p-a")  # the producer's first batch for the partition: it has a sequence there
    b1, big, c1, d1 = outbox_row("p-b"), outbox_row("p-big", filler=6_000), outbox_row("p-c"), outbox_row("p-d")
    b2, big2, c2, after = outbox_row("p-b"), outbox_row("p-big"), outbox_row("p-c"), outbox_row("p-e")
    broker = services_broker()
    await broker.connect()
    relay = OutboxRelay(sessions, broker, topics, OutboxRow)
    try:
        await add_rows(sessions, warm)
        assert await relay.deliver_pending() == 1
        await add_rows(sessions, b1, big, c1, d1, b2, big2, c2)
        with logged_by(monkeypatch, outbox_sends) as logs:
            assert await relay.deliver_pending() == 7  # no exception: nothing waits for a restart
        assert {"event": "outbox rows refused with their request, sent one by one", "rows": 4} in [
            {k: line[k] for k in ("event", "rows") if k in line} for line in logs
        ]
        assert producer_problem(broker) is None
        await add_rows(sessions, after)  # the partition's later rows publish
        assert await relay.deliver_pending() == 1
        assert producer_problem(broker) is None
        published = await kafka.read_raw(kafka_bootstrap(), name)
    finally:
        await broker.stop()
    listed = await SetAsideRows(sessions, OutboxRow, wake=relay.wake).rows(limit=10)
    assert [(r["id"], r["holds_back"]) for r in listed] == [(big.id, 1)]  # big2 waits behind it
    assert "MessageSizeTooLarge" in listed[0]["error"]
    good = [warm, b1, c1, d1, b2, c2, after]
    assert await sent_ids(sessions, {row.id for row in [*good, big, big2]}, keep_sent=True) == {r.id for r in good}
    arrived = [orjson.loads(body)["event_id"] for body, _ in published]
    assert sorted(arrived) == sorted(str(row.envelope["event_id"]) for row in good)  # each once, none of p-big
    for first, then in ((b1, b2), (c1, c2)):  # per key in order
        assert arrived.index(str(first.envelope["event_id"])) < arrived.index(str(then.envelope["event_id"]))


async def test_rows_refused_as_out_of_sequence_behind_a_refused_batch_are_sent_again_in_the_same_pass(
    database: AsyncEngine, topics: TopicNames
) -> None:
    # batches of 1000 bytes: the large row leaves in a batch of its own, refused, and the producer's next batch
    # of the partition leaves before the relay has seen the refusal: it is refused as out of sequence
    await run_migrations(database, MIGRATIONS)
    name = await small_messages_topic(topics)
    sessions = session_factory(database)
    rows = [outbox_row("p-a"), outbox_row("p-big", filler=6_000), *(outbox_row(f"p-{n}", filler=300) for n in range(6))]
    broker = services_broker(max_batch_size=1000)
    await broker.connect()
    relay = OutboxRelay(sessions, broker, topics, OutboxRow)
    try:
        await add_rows(sessions, *rows)
        assert await relay.deliver_pending() == len(rows)  # no exception: the rows out of sequence are sent again
        assert producer_problem(broker) is None
        published = await kafka.read_raw(kafka_bootstrap(), name)
    finally:
        await broker.stop()
    listed = await SetAsideRows(sessions, OutboxRow, wake=relay.wake).rows(limit=10)
    assert [r["id"] for r in listed] == [rows[1].id]
    arrived = sorted(orjson.loads(body)["event_id"] for body, _ in published)
    assert arrived == sorted(str(row.envelope["event_id"]) for row in rows if row is not rows[1])


async def test_where_the_producer_id_cannot_be_renewed_the_service_says_to_restart(
    database: AsyncEngine, topics: TopicNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an aiokafka whose layout moved (here: the producer's `_txn_manager` gone from where shared.kafka.sequence
    # reads it): the relay behaves as before renewal existed
    await run_migrations(database, MIGRATIONS)
    name = await small_messages_topic(topics)
    sessions = session_factory(database)
    first, too_big, after = (outbox_row(key, filler=size) for key, size in (("p-a", 100), ("p-b", 6_000), ("p-c", 100)))
    broker = services_broker()
    await broker.connect()
    relay = OutboxRelay(sessions, broker, topics, OutboxRow)
    try:
        producer = aiokafka_producer(broker)
        assert producer is not None
        monkeypatch.setattr(producer, "_txn_manager", None)  # the sender keeps its own reference: it works on
        for row in (first, too_big):  # a pass each: the producer's first batch for the partition is taken, the
            await add_rows(sessions, row)  # second refused alone (its own fault: set aside)
            assert await relay.deliver_pending() == 1
        assert producer_problem(broker) is None
        await add_rows(sessions, after)
        with pytest.raises(RuntimeError) as failed:  # a row that is fine, refused for the partition's sequence
            await relay.deliver_pending()
        assert isinstance(failed.value.__cause__, OutOfOrderSequenceNumber)
        assert producer_problem(broker) == (
            f"Kafka refuses the producer's batches for {name} partition 0 (OutOfOrderSequenceNumber, after it "
            "refused a batch): nothing more is published there; restart the service"
        )
    finally:
        await broker.stop()
    listed = await SetAsideRows(sessions, OutboxRow, wake=relay.wake).rows(limit=10)
    assert [r["id"] for r in listed] == [too_big.id]  # the row that is fine waits, not set aside
    assert await sent_ids(sessions, {first.id, too_big.id, after.id}, keep_sent=True) == {first.id}


async def test_a_dead_sender_task_is_the_deployments_fault_and_sets_no_row_aside(
    database: AsyncEngine, topics: TopicNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    # once aiokafka's sender task died every send raises a bare KafkaError (unclear whose fault), whichever the
    # row: counted against the rows, each was set aside in turn, a minute apart by default, at once here
    await run_migrations(database, MIGRATIONS)
    name = topics("test.events")
    await ensure_topics(kafka_connection(), [name], partitions=1, replication=1)
    sessions = session_factory(database)
    row = outbox_row("p-a")
    async with sessions.begin() as session:
        session.add(row)
    broker = KafkaBroker(kafka_bootstrap(), enable_idempotence=True, acks="all")  # as build_broker makes it
    await broker.connect()
    relay = OutboxRelay(sessions, broker, topics, OutboxRow, unclear_passes=1, unclear_for_s=0)
    try:
        producer = aiokafka_producer(broker)
        assert producer is not None

        def broken(*_: object, **__: object) -> None:
            raise RuntimeError("a bug in the sender routine")

        monkeypatch.setattr(producer._sender._message_accumulator, "drain_by_nodes", broken)
        with pytest.raises(KafkaError):
            await (await producer.send(name, b"{}", key=b"k"))
        assert producer_problem(broker) is not None
        for _ in range(3):
            with pytest.raises(RuntimeError) as failed:
                await relay.deliver_pending()
            assert type(failed.value.__cause__) is KafkaError
    finally:
        await broker.stop()
    assert await SetAsideRows(sessions, OutboxRow, wake=relay.wake).rows(limit=10) == []
    assert await sent_ids(sessions, {row.id}, keep_sent=True) == set()


async def sent_ids(sessions: Any, everyone: set[int | None], keep_sent: bool) -> set[int | None]:
    """The rows published: marked sent, or (`keep_sent` off) gone from `everyone`."""
    async with sessions() as session:
        if keep_sent:
            query = select(col(OutboxRow.id)).where(col(OutboxRow.sent_at).is_not(None))
            return set((await session.execute(query)).scalars())
        return everyone - set((await session.execute(select(col(OutboxRow.id)))).scalars())


async def admin_call(rows: SetAsideRows, role: str, path: str) -> int:
    """POST `path` on the admin router with a principal of `role` (an office key must get 403)."""
    scope = Scope(ScopeKind.ADMIN) if role == "admin" else Scope(ScopeKind.STREET, "440111008")

    async def authenticate(_: Request) -> Principal:
        return Principal(key_id="k", scope=scope, role=Role(role))

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(outbox_admin_router(authenticate=authenticate, rows=rows))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        if role != "admin":
            return (await http.get("/v1/admin/outbox/set-aside")).status_code
        return (await http.post(path)).status_code


async def test_only_admins_see_set_aside_rows(database: AsyncEngine) -> None:
    await run_migrations(database, MIGRATIONS)
    rows = SetAsideRows(session_factory(database), OutboxRow, wake=lambda: None)
    assert await admin_call(rows, "office", "") == 403
    assert await admin_call(rows, "admin", "/v1/admin/outbox/set-aside/1/retry") == 404
