"""A fact PostgreSQL refuses (text it cannot hold) is set aside, and the fold goes on.

Reporting writes a batch of thousands of events in one transaction. A value
the database refuses on every try (a NUL in a text) once held the whole fold
in its retry loop for good, every report growing stale behind it; the batch
is now written in halves until the refused event is alone and dead-lettered.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from services.reporting.adapters.fold import FactWriter
from services.reporting.adapters.fold_set_aside import SET_ASIDE_TRIES
from services.reporting.adapters.tables import rejections
from services.reporting.bootstrap import MIGRATIONS
from services.reporting.domain.batch import FoldBatch
from services.reporting.domain.facts import RejectionFact
from shared.db import build_engine, run_migrations
from shared.db.bulk import UnwritableValue
from shared.kafka.broker import dead_letter_publisher
from shared.kafka.failures import DeadLetters, is_permanent, open_dead_letter
from shared.topics import DEAD_LETTER
from tests.support.infra import TEST_KEYRING, create_database, drop_database, kafka_bootstrap, unique_name
from tests.support.kafka import caught_up, read_raw
from tests.support.records import TONGDE
from tests.support.reporting import FakeClock, reporting_harness
from tests.support.waiting import eventually

GOOD = 20


def rejection(source_kind: str | None) -> bytes:
    payload = {
        "reporting_street": TONGDE,
        "rejected_at": datetime.now(UTC).isoformat(),
        "error_count": 1,
        "source_kind": source_kind,
    }
    envelope = {
        "event_id": str(uuid.uuid4()),
        "type": "RecordRejected",
        "version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "producer": "test",
        "correlation_id": "none",
        "payload": payload,
    }
    return json.dumps(envelope).encode()


async def test_a_refused_rejection_is_dead_lettered_and_the_rest_of_its_batch_folded() -> None:
    async with reporting_harness(FakeClock(datetime.now(UTC))) as harness:
        topic = harness.settings.topic_prefix + "records.rejected"
        poison = rejection("canvass\x00")  # valid JSON and a valid contract; PostgreSQL's text cannot hold it
        bodies = [rejection("canvass") for _ in range(GOOD // 2)] + [poison]
        bodies += [rejection("school") for _ in range(GOOD - GOOD // 2)]
        sent = [await harness.producer.send(topic, body, key=b"one") for body in bodies]  # one batch, in order
        await asyncio.gather(*sent)
        engine = build_engine(harness.settings.database_url)
        try:

            async def folded() -> int | None:
                async with engine.connect() as connection:
                    count = (await connection.execute(sa.select(sa.func.count()).select_from(rejections))).scalar_one()
                return count if count == GOOD else None

            assert await eventually(folded) == GOOD
        finally:
            await engine.dispose()
        letters = await eventually(lambda: read_raw(kafka_bootstrap(), harness.settings.topic_prefix + DEAD_LETTER))
    assert len(letters) == 1
    body, headers = letters[0]
    assert open_dead_letter(TEST_KEYRING, body, headers) == poison
    assert "SQLSTATE" in headers["error"]  # the kind of refusal
    assert "canvass" not in headers["error"]  # and no value
    assert headers["consumer_group"] == harness.settings.topic_prefix + "reporting"  # who set it aside
    assert harness.reporting.fold.folded == GOOD + 1  # every message read counted once, the poison too


async def test_a_value_the_driver_refuses_before_postgresql_is_permanent_too() -> None:
    """The contract bounds error_count now; a value past the column reaching the writer anyway (an older
    contract's event, say) is refused by asyncpg's COPY encoder, unwrapped, and must be set aside as well."""
    name = unique_name("poison")
    url = await create_database(name)
    engine = build_engine(url)
    try:
        await run_migrations(engine, MIGRATIONS)
        fact = RejectionFact("r-1", TONGDE, "2027-W08", datetime.now(UTC), 2**40, None)
        with pytest.raises(UnwritableValue) as refused:
            await FactWriter(engine).write(FoldBatch(rejected={"r-1": fact}))
        assert is_permanent(refused.value)
        assert str(2**40) not in str(refused.value)
    finally:
        await engine.dispose()
        await drop_database(name)


async def test_a_message_without_a_value_is_dead_lettered_and_the_fold_goes_on() -> None:
    # its dead letter's bytes(None) raised TypeError: the fold died, and died again on every restart
    async with reporting_harness(FakeClock(datetime.now(UTC))) as harness:
        topic = harness.settings.topic_prefix + "records.rejected"
        await harness.producer.send_and_wait(topic, None, key=b"one")  # a tombstone, a console producer's null
        await asyncio.gather(*[await harness.producer.send(topic, rejection("school"), key=b"one") for _ in range(2)])
        background = harness.app.state.runtime.background
        assert await eventually(lambda: harness.reporting.fold.folded == 3 or background.dead())
        assert not background.dead()
        letters = await eventually(lambda: read_raw(kafka_bootstrap(), harness.settings.topic_prefix + DEAD_LETTER))
    assert [open_dead_letter(TEST_KEYRING, body, headers) for body, headers in letters] == [b""]


async def test_a_batch_whose_dead_letter_kafka_refuses_is_read_again_and_committed_once_it_is_taken() -> None:
    # the fold retried such a publish inside the batch for ever; it now fails the batch after SET_ASIDE_TRIES
    # tries, and the batch is read again from the refused message (a real consumer's seek; the messages before it
    # committed): the rest is committed once the dead letter is taken
    async with reporting_harness(FakeClock(datetime.now(UTC))) as harness:
        prefix = harness.settings.topic_prefix
        runtime = harness.app.state.runtime
        publish = dead_letter_publisher(runtime.broker, runtime.topics, TEST_KEYRING)
        tries = 0

        async def refusing_twice(body: bytes, headers: dict[str, str]) -> None:
            nonlocal tries
            tries += 1
            if tries <= 2 * SET_ASIDE_TRIES:  # two rounds of the batch, the topic not authorised, say
                raise PermissionError("the dead-letter topic refuses")
            await publish(body, headers)

        harness.reporting.fold._dead_letters = DeadLetters(refusing_twice)
        poison = rejection("canvass\x00")
        bodies = [rejection("canvass") for _ in range(GOOD // 2)] + [poison]
        bodies += [rejection("school") for _ in range(GOOD - GOOD // 2)]
        await asyncio.gather(*[await harness.producer.send(prefix + "records.rejected", b, key=b"one") for b in bodies])
        letters = await eventually(lambda: read_raw(kafka_bootstrap(), prefix + DEAD_LETTER))
        folded = [prefix + t for t in ("records.rejected",)]
        assert await eventually(lambda: caught_up(kafka_bootstrap(), prefix + "reporting", folded))
        assert not runtime.background.dead()
    assert tries == 2 * SET_ASIDE_TRIES + 1  # the batch came again after each failed round
    assert [open_dead_letter(TEST_KEYRING, body, headers) for body, headers in letters] == [poison]
    assert harness.reporting.fold.folded == GOOD + 1  # counted once, when its batch was done
