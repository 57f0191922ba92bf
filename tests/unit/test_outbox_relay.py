"""The outbox relay on SQLite with a fake broker: a batch leaves in order, only confirmed rows count as sent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from aiokafka.errors import (
    CorruptRecordException,
    InvalidRequestError,
    InvalidRequiredAcksError,
    InvalidTopicError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    RecordListTooLargeError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    UnknownError,
    UnsupportedForMessageFormatError,
)
from faststream.kafka import KafkaBroker
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import SQLModel, col

from services.intake.adapters.tables import OutboxRow
from shared.clock import FixedClock
from shared.db import build_engine, outbox, session_factory
from shared.db.outbox import OutboxRelay
from shared.topics import TopicNames
from tests.support.logs import logged_by

OUTBOX = SQLModel.metadata.tables["outbox"]


class Broker:
    """Records what is published, in order; each send's confirmation is left to the test."""

    def __init__(self, expect: int, refuse_from: int | None = None) -> None:
        self.sent: list[tuple[str, str, str]] = []  # (topic, key, event id)
        self.confirmations: list[asyncio.Future[object]] = []
        self.refuse_from = refuse_from  # this send and later ones fail at once: Kafka unreachable
        self.expect = expect
        self.all_sent = asyncio.Event()  # `expect` sends made (or refused): the relay awaits confirmations

    async def publish(self, message: dict[str, Any], topic: str, *, key: bytes, **_: Any) -> asyncio.Future[object]:
        if self.refuse_from is not None and len(self.sent) >= self.refuse_from:
            self.all_sent.set()
            raise KafkaConnectionError("no broker")
        self.sent.append((topic, key.decode(), message["event_id"]))
        confirmation: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.confirmations.append(confirmation)
        if len(self.sent) == self.expect:
            self.all_sent.set()
        return confirmation


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/outbox.db")
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: OUTBOX.create(sync))
    yield session_factory(engine)
    await engine.dispose()


async def add_rows(sessions: async_sessionmaker[AsyncSession], keys: list[str]) -> None:
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        for number, key in enumerate(keys):
            envelope = {"event_id": f"e{number}", "type": "Test", "correlation_id": key, "payload": {"n": number}}
            session.add(OutboxRow(topic="test.events", key=key, envelope=envelope, created_at=now))


async def sent_events(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        rows = (await session.execute(select(OutboxRow).where(col(OutboxRow.sent_at).is_not(None)))).scalars()
        return sorted(str(row.envelope["event_id"]) for row in rows)


def relay(sessions: async_sessionmaker[AsyncSession], broker: Broker, **unclear: Any) -> OutboxRelay:
    """A relay on the fake broker; `unclear`: its bound on errors that do not say whose fault they are."""
    return OutboxRelay(sessions, cast(KafkaBroker, broker), TopicNames("t."), OutboxRow, batch=100, **unclear)


async def confirm_all(broker: Broker, fail: frozenset[int] = frozenset()) -> None:
    for index, confirmation in enumerate(broker.confirmations):
        if index in fail:
            confirmation.set_exception(KafkaConnectionError("lost"))
        else:
            confirmation.set_result(None)


async def until_sent(broker: Broker, count: int) -> None:
    """Wait (5 s at most: the store's reads take a thread) until the relay has made `count` sends."""
    for _ in range(500):
        if len(broker.sent) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(broker.sent)} sends, not {count}: {broker.sent}")


async def no_more_sends(broker: Broker) -> None:
    """Time for a send the relay should not make to be made."""
    await asyncio.sleep(0.1)


async def test_a_batch_is_published_oldest_first_and_marked_sent_once_confirmed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a", "b", "c", "d"])
    broker = Broker(expect=4)
    delivering = asyncio.create_task(relay(sessions, broker).deliver_pending())
    await broker.all_sent.wait()
    assert await sent_events(sessions) == []  # sent to Kafka, not yet confirmed: not marked
    await confirm_all(broker)
    assert await asyncio.wait_for(delivering, 10) == 4
    assert [event for _, _, event in broker.sent] == [f"e{n}" for n in range(4)]
    assert {topic for topic, _, _ in broker.sent} == {"t.test.events"}
    assert await sent_events(sessions) == [f"e{n}" for n in range(4)]


async def test_a_later_row_of_a_key_leaves_only_once_the_earlier_is_confirmed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a", "b", "a", "c", "a", "b"])
    broker = Broker(expect=6)
    delivering = asyncio.create_task(relay(sessions, broker).deliver_pending())
    await until_sent(broker, 3)
    await no_more_sends(broker)
    assert [event for _, _, event in broker.sent] == ["e0", "e1", "e3"]  # the first of each key
    await confirm_all(broker)
    await until_sent(broker, 5)
    await no_more_sends(broker)
    assert [event for _, _, event in broker.sent][3:] == ["e2", "e5"]
    broker.confirmations[3].set_result(None)
    broker.confirmations[4].set_result(None)
    await until_sent(broker, 6)
    broker.confirmations[5].set_result(None)
    assert await asyncio.wait_for(delivering, 10) == 6
    assert [event for _, key, event in broker.sent if key == "a"] == ["e0", "e2", "e4"]
    assert await sent_events(sessions) == [f"e{n}" for n in range(6)]


async def test_a_row_kafka_refuses_after_it_left_is_set_aside_before_its_key_sends_more(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # a broker whose own size limit is below the producer's: the refusal comes with the confirmation
    await add_rows(sessions, ["a", "b", "a"])
    broker = Broker(expect=2)
    delivering = asyncio.create_task(relay(sessions, broker).deliver_pending())
    await until_sent(broker, 2)
    broker.confirmations[0].set_exception(MessageSizeTooLargeError())
    broker.confirmations[1].set_result(None)
    assert await asyncio.wait_for(delivering, 10) == 3
    await no_more_sends(broker)
    assert [event for _, _, event in broker.sent] == ["e0", "e1"]  # e2 never overtook e0
    assert await sent_events(sessions) == ["e1"]
    assert await set_aside_events(sessions) == ["e0"]

    again = Broker(expect=0)
    assert await relay(sessions, again).deliver_pending() == 0  # e2 is held behind e0
    assert again.sent == []


async def test_an_unconfirmed_row_keeps_the_later_rows_of_its_key_for_the_next_pass(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a", "a", "b"])
    broker = Broker(expect=2)
    delivering = asyncio.create_task(relay(sessions, broker).deliver_pending())
    await until_sent(broker, 2)
    broker.confirmations[0].set_exception(KafkaConnectionError("lost"))
    broker.confirmations[1].set_result(None)
    with pytest.raises(RuntimeError, match="2 outbox rows not confirmed"):
        await asyncio.wait_for(delivering, 10)
    assert [event for _, _, event in broker.sent] == ["e0", "e2"]
    assert await sent_events(sessions) == ["e2"]
    assert await set_aside_events(sessions) == []


@pytest.mark.parametrize(
    "error",
    [
        KafkaTimeoutError(),
        ProducerClosed(),
        TopicAuthorizationFailedError(),
        SaslAuthenticationFailed(),
        InvalidRequiredAcksError(),  # the producer's acks
        InvalidTopicError(),  # an internal topic
        UnsupportedForMessageFormatError(),  # a topic's message format
    ],
    ids=lambda error: type(error).__name__,
)
async def test_an_error_of_the_deployment_sets_no_row_aside(
    sessions: async_sessionmaker[AsyncSession], error: Exception
) -> None:
    # aiokafka calls these non-retriable, but they say nothing of the row: every row would fail alike
    await add_rows(sessions, ["a", "b"])
    broker = Broker(expect=2)
    delivering = asyncio.create_task(relay(sessions, broker).deliver_pending())
    await broker.all_sent.wait()
    broker.confirmations[0].set_exception(error)
    broker.confirmations[1].set_result(None)
    with pytest.raises(RuntimeError, match="1 outbox rows not confirmed"):
        await asyncio.wait_for(delivering, 10)
    assert await set_aside_events(sessions) == []
    assert await sent_events(sessions) == ["e1"]


async def set_aside_events(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        rows = (await session.execute(select(OutboxRow).where(col(OutboxRow.set_aside_at).is_not(None)))).scalars()
        return sorted(str(row.envelope["event_id"]) for row in rows)


async def test_an_unconfirmed_send_leaves_its_row_unsent_for_the_next_pass(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a", "b", "c"])
    broker = Broker(expect=3)
    delivering = asyncio.create_task(relay(sessions, broker).deliver_pending())
    await broker.all_sent.wait()
    await confirm_all(broker, fail=frozenset({1}))
    with pytest.raises(RuntimeError, match="1 outbox rows not confirmed"):
        await asyncio.wait_for(delivering, 10)
    assert await sent_events(sessions) == ["e0", "e2"]

    again = Broker(expect=1)
    delivering = asyncio.create_task(relay(sessions, again).deliver_pending())
    await again.all_sent.wait()
    await confirm_all(again)
    assert await asyncio.wait_for(delivering, 10) == 1
    assert [event for _, _, event in again.sent] == ["e1"]


async def test_kafka_unreachable_stops_the_pass_and_sends_nothing_after(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a", "b", "a", "c"])
    broker = Broker(expect=3, refuse_from=2)
    delivering = asyncio.create_task(relay(sessions, broker).deliver_pending())
    await broker.all_sent.wait()
    await confirm_all(broker)
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(delivering, 10)
    assert [event for _, _, event in broker.sent] == ["e0", "e1"]
    assert await sent_events(sessions) == ["e0", "e1"]  # e2 and e3 wait, in order, for the next pass


async def test_a_relay_stopped_while_awaiting_confirmations_stops(sessions: async_sessionmaker[AsyncSession]) -> None:
    # a leader that loses its lock cancels its relay: the relay must end, not take the cancel for a failed send
    await add_rows(sessions, ["a", "b"])
    broker = Broker(expect=2)
    running = asyncio.create_task(relay(sessions, broker).run())
    await broker.all_sent.wait()  # both sent, neither confirmed: the relay awaits the first
    running.cancel()
    done, _ = await asyncio.wait({running}, timeout=5)
    assert running in done, "the relay went on after it was cancelled"
    assert running.cancelled()
    assert await sent_events(sessions) == []


async def test_a_send_the_producer_gave_up_leaves_its_row_for_the_next_pass(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a", "b"])
    broker = Broker(expect=2)
    delivering = asyncio.create_task(relay(sessions, broker).deliver_pending())
    await broker.all_sent.wait()
    broker.confirmations[0].cancel()  # cancelled by the producer, not by the relay's owner
    broker.confirmations[1].set_result(None)
    with pytest.raises(RuntimeError, match="1 outbox rows not confirmed"):
        await asyncio.wait_for(delivering, 10)
    assert await sent_events(sessions) == ["e1"]


async def remaining_events(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        rows = (await session.execute(select(OutboxRow))).scalars()
        return sorted(str(row.envelope["event_id"]) for row in rows)


async def test_a_relay_that_keeps_no_sent_rows_deletes_exactly_the_confirmed_ones(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a", "b", "c", "d"])
    broker = Broker(expect=4)
    deleting = OutboxRelay(sessions, cast(KafkaBroker, broker), TopicNames("t."), OutboxRow, keep_sent=False)
    delivering = asyncio.create_task(deleting.deliver_pending())
    await broker.all_sent.wait()
    assert await remaining_events(sessions) == ["e0", "e1", "e2", "e3"]  # not yet confirmed: all kept
    await confirm_all(broker, fail=frozenset({2}))
    with pytest.raises(RuntimeError, match="1 outbox rows not confirmed"):
        await asyncio.wait_for(delivering, 10)
    assert await remaining_events(sessions) == ["e2"]  # the unconfirmed one waits, unsent, for the next pass
    assert await sent_events(sessions) == []

    again = Broker(expect=1)
    deleting = OutboxRelay(sessions, cast(KafkaBroker, again), TopicNames("t."), OutboxRow, keep_sent=False)
    delivering = asyncio.create_task(deleting.deliver_pending())
    await again.all_sent.wait()
    await confirm_all(again)
    assert await asyncio.wait_for(delivering, 10) == 1
    assert [event for _, _, event in again.sent] == ["e2"]
    assert await remaining_events(sessions) == []


class PassTimes(OutboxRelay):
    """A relay whose passes only note when they ran (loop time): the loop's pacing, nothing published."""

    passes: list[float]
    ran: asyncio.Event

    async def deliver_pending(self) -> int:
        self.passes.append(asyncio.get_running_loop().time())
        self.ran.set()
        return 0


async def test_a_row_after_a_quiet_spell_leaves_at_once_and_a_stream_in_spaced_passes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    linger = 0.5
    paced = PassTimes(sessions, cast(KafkaBroker, Broker(expect=0)), TopicNames("t."), OutboxRow, linger_s=linger)
    paced.passes, paced.ran = [], asyncio.Event()
    running = asyncio.create_task(paced.run())

    async def next_pass() -> float:
        paced.ran.clear()
        await asyncio.wait_for(paced.ran.wait(), 5)
        return paced.passes[-1]

    try:
        await asyncio.wait_for(paced.ran.wait(), 5)  # the first pass, at start
        await asyncio.sleep(linger + 0.1)  # quiet for longer than the linger
        woken = asyncio.get_running_loop().time()
        paced.wake()
        second = await next_pass()
        assert second - woken < linger / 2  # at once, not after a linger
        paced.wake()  # right after a pass: this one waits for the spacing
        third = await next_pass()
        assert third - second >= linger - 0.01
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


class FailingPasses(PassTimes):
    """A relay whose every pass fails, as while Kafka refuses a row for good or is away."""

    async def deliver_pending(self) -> int:
        await super().deliver_pending()
        raise RuntimeError("1 outbox rows not confirmed by Kafka")


async def test_after_a_failed_pass_the_next_waits_a_poll_however_often_new_rows_wake_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Under load new rows wake the relay every few ms: a refusal that goes on was tried, and took a new producer
    id, at every one of them (thousands in the minute before an unclear row is set aside)."""
    poll, linger = 0.2, 0.01
    failing = FailingPasses(
        sessions,
        cast(KafkaBroker, Broker(expect=0)),
        TopicNames("t."),
        OutboxRow,
        poll_interval_s=poll,
        linger_s=linger,
    )
    failing.passes, failing.ran = [], asyncio.Event()
    running = asyncio.create_task(failing.run())
    try:
        started = asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - started < 5 * poll:
            failing.wake()  # a writer's new row, again and again
            await asyncio.sleep(linger / 2)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    gaps = [later - earlier for earlier, later in zip(failing.passes, failing.passes[1:], strict=False)]
    assert 3 <= len(failing.passes) <= 7, failing.passes  # not one a linger: about 100
    assert min(gaps) >= poll - 0.01


# errors that do not say whose fault they are: the broker's catch-all, the bare one aiokafka raises when its
# sender task dies, a CRC that does not match the bytes (damaged on the way), and one named neither the row's
# nor the deployment's; a broker's passing fault raises them as readily as a row it chokes on
UNCLEAR = [
    UnknownError(),
    KafkaError("Unexpected error during batch delivery"),
    CorruptRecordException(),
    InvalidRequestError(),
]
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


async def failed_pass(relaying: OutboxRelay, broker: Broker, sends: int, fail: dict[int, BaseException]) -> None:
    """One pass that ends in failure: `sends` sends in all so far, those numbered in `fail` refused, the others
    confirmed (the pass makes no send after the `sends`-th)."""
    delivering = asyncio.create_task(relaying.deliver_pending())
    await until_sent(broker, sends)
    for number, confirmation in enumerate(broker.confirmations):
        if not confirmation.done():
            error = fail.get(number)
            if error is None:
                confirmation.set_result(None)
            else:
                confirmation.set_exception(error)
    with pytest.raises(RuntimeError, match="outbox rows not confirmed"):
        await asyncio.wait_for(delivering, 10)


async def set_aside_errors(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str | None]:
    async with sessions() as session:
        rows = (await session.execute(select(OutboxRow).where(col(OutboxRow.set_aside_at).is_not(None)))).scalars()
        return {str(row.envelope["event_id"]): row.error for row in rows}


@pytest.mark.parametrize("error", UNCLEAR, ids=lambda error: type(error).__name__)
async def test_a_row_failing_with_an_unclear_error_once_is_retried_and_published(
    sessions: async_sessionmaker[AsyncSession], error: Exception
) -> None:
    await add_rows(sessions, ["a", "b"])
    broker = Broker(expect=2)
    relaying = relay(sessions, broker)
    await failed_pass(relaying, broker, 2, {0: error})
    assert await set_aside_events(sessions) == []
    assert await sent_events(sessions) == ["e1"]

    delivering = asyncio.create_task(relaying.deliver_pending())
    await until_sent(broker, 3)
    broker.confirmations[2].set_result(None)
    assert await asyncio.wait_for(delivering, 10) == 1
    assert [event for _, _, event in broker.sent] == ["e0", "e1", "e0"]
    assert await sent_events(sessions) == ["e0", "e1"]
    assert await set_aside_events(sessions) == []


async def test_a_row_failing_with_an_unknown_error_in_n_passes_is_set_aside_after_the_nth(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a", "b"])
    broker, clock = Broker(expect=2), FixedClock(START)
    relaying = relay(sessions, broker, unclear_passes=3, unclear_for_s=60, clock=clock)
    await failed_pass(relaying, broker, 2, {0: UnknownError()})
    clock.advance_to(START + timedelta(seconds=30))
    await failed_pass(relaying, broker, 3, {2: UnknownError()})
    assert await set_aside_events(sessions) == []  # twice: still retried

    clock.advance_to(START + timedelta(seconds=60))
    delivering = asyncio.create_task(relaying.deliver_pending())
    await until_sent(broker, 4)
    broker.confirmations[3].set_exception(UnknownError())
    assert await asyncio.wait_for(delivering, 10) == 1  # set aside: the pass did not fail
    assert await set_aside_errors(sessions) == {
        "e0": "UnknownError: [Error -1] UnknownError (in 3 passes since 2025-03-01T09:00:00+00:00)"
    }
    assert await sent_events(sessions) == ["e1"]
    again = Broker(expect=0)
    assert await relay(sessions, again).deliver_pending() == 0
    assert again.sent == []


async def test_passes_close_together_do_not_set_a_row_aside_before_the_time_is_up(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # a busy relay passes every few tens of ms: five passes would be over before a broker's restart is
    await add_rows(sessions, ["a"])
    broker, clock = Broker(expect=1), FixedClock(START)
    relaying = relay(sessions, broker, clock=clock)
    for sends in range(1, 8):
        await failed_pass(relaying, broker, sends, {sends - 1: UnknownError()})
    assert await set_aside_events(sessions) == []

    clock.advance_to(START + timedelta(seconds=60))
    delivering = asyncio.create_task(relaying.deliver_pending())
    await until_sent(broker, 8)
    broker.confirmations[7].set_exception(UnknownError())
    assert await asyncio.wait_for(delivering, 10) == 1
    assert await set_aside_events(sessions) == ["e0"]


async def test_a_later_row_of_a_key_waits_while_an_earlier_one_is_retried(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a", "a", "b"])
    broker = Broker(expect=2)
    relaying = relay(sessions, broker)
    await failed_pass(relaying, broker, 2, {0: UnknownError()})
    await failed_pass(relaying, broker, 3, {2: UnknownError()})
    assert [event for _, _, event in broker.sent] == ["e0", "e2", "e0"]  # e1 never left while e0 failed

    delivering = asyncio.create_task(relaying.deliver_pending())
    await until_sent(broker, 4)
    await no_more_sends(broker)
    assert len(broker.sent) == 4  # e1 waits for e0's confirmation
    broker.confirmations[3].set_result(None)
    await until_sent(broker, 5)
    broker.confirmations[4].set_result(None)
    assert await asyncio.wait_for(delivering, 10) == 2
    assert [event for _, key, event in broker.sent if key == "a"] == ["e0", "e0", "e0", "e1"]
    assert await sent_events(sessions) == ["e0", "e1", "e2"]
    assert await set_aside_events(sessions) == []


async def test_a_pass_that_did_not_reach_the_row_neither_counts_nor_starts_the_count_afresh(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a", "b"])
    broker = Broker(expect=2)
    relaying = relay(sessions, broker, unclear_passes=2, unclear_for_s=0)
    await failed_pass(relaying, broker, 2, {0: KafkaConnectionError("lost"), 1: UnknownError()})
    broker.refuse_from = 2  # Kafka unreachable: e0's send fails at once, e1's is never made
    with pytest.raises(RuntimeError):
        await relaying.deliver_pending()
    assert len(broker.sent) == 2
    assert await set_aside_events(sessions) == []

    broker.refuse_from = None
    delivering = asyncio.create_task(relaying.deliver_pending())
    await until_sent(broker, 4)
    broker.confirmations[2].set_result(None)
    broker.confirmations[3].set_exception(UnknownError())
    assert await asyncio.wait_for(delivering, 10) == 2
    assert await sent_events(sessions) == ["e0"]
    errors = await set_aside_errors(sessions)
    assert list(errors) == ["e1"]
    assert "(in 2 passes since" in str(errors["e1"])  # the first pass and the last


async def test_a_failed_pass_is_logged_with_the_kind_of_kafkas_error(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the pass raises its own RuntimeError ("n rows not confirmed") from Kafka's: the log said RuntimeError
    await add_rows(sessions, ["a"])
    broker = Broker(expect=1, refuse_from=0)
    with logged_by(monkeypatch, outbox) as logs:
        running = asyncio.create_task(relay(sessions, broker).run())
        await broker.all_sent.wait()
        await asyncio.sleep(0.05)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    failed = [line for line in logs if line["event"] == "outbox relay pass failed"]
    assert failed
    assert {line["error"] for line in failed} == {"KafkaConnectionError"}


async def test_failing_passes_are_shown_for_readyz_until_one_goes_through(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a"])
    broker = Broker(expect=1, refuse_from=0)
    clock = FixedClock(datetime(2027, 2, 24, 2, 30, tzinfo=UTC))
    shown = OutboxRelay(
        sessions, cast(KafkaBroker, broker), TopicNames("t."), OutboxRow, batch=100, poll_interval_s=0.01, clock=clock
    )
    assert shown.shown() == {}
    running = asyncio.create_task(shown.run())
    try:
        for _ in range(500):  # three failed passes at least
            if shown.shown().get("outbox_relay", {}).get("failed_passes", 0) >= 3:
                break
            await asyncio.sleep(0.01)
        failing = shown.shown()["outbox_relay"]
        assert failing["failing_since"] == "2027-02-24T02:30:00+00:00"  # the first failed pass's, kept
        assert failing["error"] == "KafkaConnectionError"
        assert failing["failed_passes"] >= 3
        broker.refuse_from = None  # Kafka back: the next pass goes through
        broker.expect = len(broker.sent) + 1
        await until_sent(broker, 1)
        await confirm_all(broker)
        for _ in range(500):
            if not shown.shown():
                break
            await asyncio.sleep(0.01)
        assert shown.shown() == {}
        assert await sent_events(sessions) == ["e0"]
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_a_pass_waiting_on_kafka_is_shown_for_readyz_once_it_has_waited_long(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a"])
    broker = Broker(expect=1)  # takes the send, and answers only when the test says (Kafka unreachable: never)
    start = datetime(2027, 2, 24, 2, 30, tzinfo=UTC)
    clock = FixedClock(start)
    waiting = OutboxRelay(sessions, cast(KafkaBroker, broker), TopicNames("t."), OutboxRow, batch=100, clock=clock)
    running = asyncio.create_task(waiting.run())
    try:
        await until_sent(broker, 1)
        clock.advance_to(start + timedelta(seconds=outbox.STALLED_AFTER_S - 1))
        assert waiting.shown() == {}  # a broker's restart takes a few seconds: not said
        clock.advance_to(start + timedelta(seconds=outbox.STALLED_AFTER_S))
        assert waiting.shown() == {"outbox_relay": {"pass_waiting_since": "2027-02-24T02:30:00+00:00"}}
        await confirm_all(broker)  # Kafka answers: the pass ends, and nothing is said any more
        for _ in range(500):
            if await sent_events(sessions):
                break
            await asyncio.sleep(0.01)
        assert waiting.shown() == {}
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


class PartitionedBroker:
    """Answers each request per partition, as Kafka does: the sends made between two turns of the event loop
    are one request, and a partition holding a `poison` row has every one of its rows refused with one error."""

    def __init__(self, partitions: dict[str, int], poison: set[str], error: type[KafkaError]) -> None:
        self.partitions, self.poison, self.error = partitions, poison, error
        self.requests: list[list[str]] = []  # the event ids of each request
        self.published: list[tuple[str, str]] = []  # (key, event id) as confirmed
        self._waiting: list[tuple[str, str, asyncio.Future[object]]] = []

    async def publish(self, message: dict[str, Any], topic: str, *, key: bytes, **_: Any) -> asyncio.Future[object]:
        if not self._waiting:
            asyncio.get_running_loop().call_soon(self._answer)
        confirmation: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._waiting.append((key.decode(), message["event_id"], confirmation))
        return confirmation

    def _answer(self) -> None:
        request, self._waiting = self._waiting, []
        self.requests.append([event for _, event, _ in request])
        refused = {self.partitions[key]: self.error() for key, event, _ in request if event in self.poison}
        for key, event, confirmation in request:
            error = refused.get(self.partitions[key])
            if error is None:
                self.published.append((key, event))
                confirmation.set_result(None)
            else:
                confirmation.set_exception(error)  # the same error for every row of the partition


@pytest.mark.parametrize("error", [MessageSizeTooLargeError, RecordListTooLargeError], ids=lambda e: e.__name__)
async def test_only_the_row_at_fault_is_set_aside_when_kafka_refuses_its_whole_partition_of_the_request(
    sessions: async_sessionmaker[AsyncSession], error: type[KafkaError]
) -> None:
    # e1 is the poison; e0 and e2 share its partition (and its request), e3 is in another one
    await add_rows(sessions, ["a", "b", "c", "d", "a", "b", "c"])
    broker = PartitionedBroker({"a": 0, "b": 0, "c": 0, "d": 1}, poison={"e1"}, error=error)
    relaying = OutboxRelay(sessions, cast(KafkaBroker, broker), TopicNames("t."), OutboxRow, batch=100)
    assert await asyncio.wait_for(relaying.deliver_pending(), 10) == 7
    assert broker.requests == [["e0", "e1", "e2", "e3"], ["e0"], ["e1"], ["e2"], ["e4", "e6"]]
    assert await set_aside_events(sessions) == ["e1"]
    assert await sent_events(sessions) == ["e0", "e2", "e3", "e4", "e6"]  # e5 waits behind e1, its key's
    assert [event for key, event in broker.published if key == "a"] == ["e0", "e4"]
    assert [event for key, event in broker.published if key == "c"] == ["e2", "e6"]
    assert "e5" not in {event for _, event in broker.published}


async def test_rows_refused_with_their_request_that_fail_alone_too_are_each_set_aside(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a", "b", "c"])
    broker = PartitionedBroker({"a": 0, "b": 0, "c": 0}, poison={"e0", "e2"}, error=MessageSizeTooLargeError)
    relaying = OutboxRelay(sessions, cast(KafkaBroker, broker), TopicNames("t."), OutboxRow, batch=100)
    assert await asyncio.wait_for(relaying.deliver_pending(), 10) == 3
    assert broker.requests == [["e0", "e1", "e2"], ["e0"], ["e1"], ["e2"]]
    assert await set_aside_events(sessions) == ["e0", "e2"]
    assert await sent_events(sessions) == ["e1"]


async def test_a_row_refused_alone_in_its_request_is_set_aside_without_another_send(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a"])
    broker = PartitionedBroker({"a": 0}, poison={"e0"}, error=MessageSizeTooLargeError)
    relaying = OutboxRelay(sessions, cast(KafkaBroker, broker), TopicNames("t."), OutboxRow, batch=100)
    assert await asyncio.wait_for(relaying.deliver_pending(), 10) == 1
    assert broker.requests == [["e0"]]
    assert await set_aside_events(sessions) == ["e0"]


async def test_a_row_sent_alone_that_kafka_does_not_confirm_stops_the_pass_and_the_rest_wait(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a", "b", "a"])
    broker = Broker(expect=2)
    delivering = asyncio.create_task(relay(sessions, broker).deliver_pending())
    await until_sent(broker, 2)
    refused = MessageSizeTooLargeError()
    broker.confirmations[0].set_exception(refused)
    broker.confirmations[1].set_exception(refused)
    await until_sent(broker, 3)  # e0 alone
    await no_more_sends(broker)
    broker.confirmations[2].set_exception(KafkaConnectionError("lost"))
    with pytest.raises(RuntimeError, match="3 outbox rows not confirmed"):
        await asyncio.wait_for(delivering, 10)
    assert [event for _, _, event in broker.sent] == ["e0", "e1", "e0"]  # e1 not sent alone, e2 not at all
    assert await set_aside_events(sessions) == []
    assert await sent_events(sessions) == []


async def test_a_relay_stopped_while_awaiting_a_row_sent_alone_stops(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a", "b"])
    broker = Broker(expect=2)
    running = asyncio.create_task(relay(sessions, broker).run())
    await until_sent(broker, 2)
    broker.confirmations[0].set_exception(MessageSizeTooLargeError())
    broker.confirmations[1].set_exception(MessageSizeTooLargeError())
    await until_sent(broker, 3)  # e0 alone, unconfirmed: the relay awaits it
    running.cancel()
    done, _ = await asyncio.wait({running}, timeout=5)
    assert running in done, "the relay went on after it was cancelled"
    assert running.cancelled()
    assert len(broker.sent) == 3
    assert await set_aside_events(sessions) == []


async def test_a_row_refused_out_of_sequence_behind_a_refused_one_is_sent_again_alone_in_the_same_pass(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # e1 left in the producer's next batch of the partition before the new producer id: out of sequence, no fault
    await add_rows(sessions, ["a", "b", "c"])
    broker = Broker(expect=3)
    delivering = asyncio.create_task(relay(sessions, broker).deliver_pending())
    await until_sent(broker, 3)
    broker.confirmations[0].set_exception(MessageSizeTooLargeError())  # refused alone: the one at fault
    broker.confirmations[1].set_exception(OutOfOrderSequenceNumber())
    broker.confirmations[2].set_result(None)
    await until_sent(broker, 4)
    broker.confirmations[3].set_result(None)
    assert await asyncio.wait_for(delivering, 10) == 3
    assert [event for _, _, event in broker.sent] == ["e0", "e1", "e2", "e1"]
    assert await set_aside_events(sessions) == ["e0"]
    assert await sent_events(sessions) == ["e1", "e2"]


@pytest.mark.parametrize("error", [UnknownError, CorruptRecordException], ids=lambda e: e.__name__)
async def test_rows_refused_with_an_unclear_culprit_go_alone_and_only_it_is_set_aside(
    sessions: async_sessionmaker[AsyncSession], error: type[KafkaError]
) -> None:
    """aiokafka calls every error code it does not know UnknownError (Kafka's INVALID_RECORD among them), and the
    broker answers the whole partition's request with it, as with a CRC that does not match: the rows refused only
    for sharing the culprit's request go alone and are published, and only the culprit counts strikes to its
    bound."""
    await add_rows(sessions, ["a", "b", "c"])
    broker = PartitionedBroker({"a": 0, "b": 0, "c": 0}, poison={"e1"}, error=error)
    clock = FixedClock(START)
    relaying = OutboxRelay(sessions, cast(KafkaBroker, broker), TopicNames("t."), OutboxRow, batch=100, clock=clock)
    with pytest.raises(RuntimeError, match="outbox rows not confirmed"):
        await asyncio.wait_for(relaying.deliver_pending(), 10)
    assert broker.requests == [["e0", "e1", "e2"], ["e0"], ["e1"], ["e2"]]  # e2 not held for e1's minute
    assert await sent_events(sessions) == ["e0", "e2"]
    assert await set_aside_events(sessions) == []
    for second in (15, 30, 45):
        clock.advance_to(START + timedelta(seconds=second))
        with pytest.raises(RuntimeError, match="outbox rows not confirmed"):
            await asyncio.wait_for(relaying.deliver_pending(), 10)
    clock.advance_to(START + timedelta(seconds=60))
    assert await asyncio.wait_for(relaying.deliver_pending(), 10) == 1  # the fifth pass over a minute: set aside
    assert await set_aside_events(sessions) == ["e1"]
    assert await sent_events(sessions) == ["e0", "e2"]


@pytest.mark.parametrize(
    "envelope",
    [{"event_id": "bad", "type": "Test"}, None, ["event_id", "type", "correlation_id"]],
    ids=["no correlation id", "null", "a list"],
)
async def test_a_row_whose_envelope_opens_without_its_header_fields_is_set_aside_not_retried_for_ever(
    sessions: async_sessionmaker[AsyncSession], envelope: Any
) -> None:
    """Read in the send, a missing field failed every pass as if Kafka were away, and held every later row of
    every key behind it."""
    async with sessions.begin() as session:
        session.add(OutboxRow(topic="test.events", key="a", envelope=envelope, created_at=datetime.now(UTC)))
    await add_rows(sessions, ["b"])  # another person's row, written after it
    broker = Broker(expect=1)
    delivering = asyncio.create_task(relay(sessions, broker).deliver_pending())
    await until_sent(broker, 1)
    await confirm_all(broker)
    assert await asyncio.wait_for(delivering, 10) == 2
    assert await sent_events(sessions) == ["e0"]
    async with sessions() as session:
        query = select(col(OutboxRow.key), col(OutboxRow.error)).where(col(OutboxRow.set_aside_at).is_not(None))
        (key, error), *others = (await session.execute(query)).all()
    assert (key, others) == ("a", [])
    assert str(error).startswith("FailsForGood: the envelope is not an object with event_id, type, correlation_id")


async def test_the_backlog_counts_the_rows_waiting_and_leaves_the_set_aside_ones_to_their_list(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_rows(sessions, ["a", "b", "c", "d"])
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        rows = list((await session.execute(select(OutboxRow).order_by(col(OutboxRow.id)))).scalars())
        rows[0].sent_at = now  # published
        rows[1].set_aside_at, rows[1].error = now, "too large"  # listed at /v1/admin/outbox/set-aside
    assert await relay(sessions, Broker(expect=0)).backlog() == 2
