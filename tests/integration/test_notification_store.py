"""Notification's store on both databases: a batch of notices from Kafka, and a batch of push attempts.

On PostgreSQL a batch of notices is two statements sent alone (the
recipients' webhooks, then notices and deliveries in one statement): no
transaction around them, and a notice stored before is found by the write
itself, not by a look-up. A batch of attempts is one statement alone when
none settles its notice, else BEGIN, the settled notices read and locked,
one statement for every write, COMMIT.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.notification.adapters.deliveries import DeliveryStore
from services.notification.adapters.delivery_claims import Attempted, Claim, Handoff
from services.notification.adapters.inbox import AlreadyAnswered, Answer, Inbox, Stored
from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.secrets import SecretBox
from services.notification.adapters.sender import SendResult
from services.notification.adapters.tables import Delivery, DeliveryAttempt, InboxNotice, OutboxRow, utc
from services.notification.adapters.webhooks import WebhookStore
from services.notification.bootstrap import MIGRATIONS
from services.notification.domain.backoff import NextStep, Outcome
from services.notification.domain.signing import secret_of
from shared.db import session_factory
from shared.events import FeedbackResult, NoticeAnswered, NoticeIssued
from tests.support.infra import TEST_KEYRING
from tests.support.notices import numbered_notice
from tests.support.stores import STORES, logged_statements, migrated_store

START = datetime(2027, 2, 24, 2, 0, tzinfo=UTC)
LEASE_UNTIL = START + timedelta(seconds=60)
BUSY, QUIET, BARE, PARTNERS = "440111008", "440111005", "440111999", "440106001"  # the last outside 440111


@dataclass
class Desk:
    inbox: Inbox
    deliveries: DeliveryStore
    webhooks: WebhookStore
    sessions: async_sessionmaker[AsyncSession]
    statements: list[str]


@pytest.fixture(params=STORES)
async def desk(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Desk]:
    async with migrated_store(request.param, "notif_", MIGRATIONS, tmp_path) as engine:
        statements = logged_statements(engine)  # before any connection is opened: each is seen
        sessions = session_factory(engine)
        sealed = SealedNotices(TEST_KEYRING)
        events = StatusEvents(b"test-person-key-secret", sealed)
        inbox = Inbox(sessions, events, sealed, served_districts=["440111"])
        webhooks = WebhookStore(sessions, SecretBox("test-box-key"))
        for code, url in ((BUSY, "http://busy.example/hook"), (QUIET, "http://quiet.example/hook")):
            await webhooks.put(code, url=url, secret=secret_of(b"a-shared-secret-of-some-length.."), now=START)
        yield Desk(inbox, DeliveryStore(sessions, events), webhooks, sessions, statements)


def notice(n: int, recipient: str = BUSY) -> NoticeIssued:
    return numbered_notice(n, recipient, issued_at=START)


def handoff(limit: int = 3) -> Handoff:
    return Handoff(lease_until=LEASE_UNTIL, limit=limit, room=lambda code: 2)


async def deliveries(desk: Desk) -> dict[str, tuple[str, str | None, datetime | None]]:
    async with desk.sessions() as session:
        rows = (await session.execute(select(Delivery).order_by(col(Delivery.notice_id)))).scalars().all()
    return {
        r.notice_id: (r.state, r.exchange_code, r.next_attempt_at and r.next_attempt_at.replace(tzinfo=UTC))
        for r in rows
    }


async def stored_ids(desk: Desk) -> set[str]:
    async with desk.sessions() as session:
        return set((await session.execute(select(col(InboxNotice.notice_id)))).scalars().all())


def claimed(stored: Stored) -> list[str]:
    return [c.notice_id for c in stored.claims]


async def test_a_batch_stores_each_new_notice_once_and_schedules_its_push(desk: Desk) -> None:
    earlier = await desk.inbox.store_many([notice(1, BARE)], now=START, handoff=handoff())
    assert earlier.outcomes == [(True, False)]  # no webhook then: nothing scheduled
    await desk.webhooks.put(BARE, url="http://late.example/hook", secret=secret_of(b"x" * 32), now=START)

    batch = [
        notice(10),  # taken at once (the busy street's room is 2)
        notice(11),  # taken at once
        notice(12),  # no room left for the busy street: due for the next claim
        notice(20, QUIET),  # taken at once: the third of the limit
        notice(21, QUIET),  # the limit is used up: due
        notice(30, PARTNERS),  # a partner's street: scheduled through the exchange, never handed off
        notice(1, BARE),  # Kafka re-delivers a notice stored before its street had a webhook
        notice(10),  # twice in one batch
    ]
    stored = await desk.inbox.store_many(batch, now=START, handoff=handoff())

    assert stored.outcomes == [(True, True)] * 6 + [(False, False)] * 2
    assert claimed(stored) == [notice(n, c).notice_id for n, c in ((10, BUSY), (11, BUSY), (20, QUIET))]
    assert all(c.notice is not None and c.subscription is not None and c.person for c in stored.claims)
    assert stored.due == 3
    assert await stored_ids(desk) == {notice(n).notice_id for n in (1, 10, 11, 12, 20, 21, 30)}
    assert await deliveries(desk) == {  # the re-delivered notice got no delivery: it was not stored again
        notice(10).notice_id: ("pending", None, LEASE_UNTIL),
        notice(11).notice_id: ("pending", None, LEASE_UNTIL),
        notice(12).notice_id: ("pending", None, START),
        notice(20).notice_id: ("pending", None, LEASE_UNTIL),
        notice(21).notice_id: ("pending", None, START),
        notice(30).notice_id: ("pending", PARTNERS, START),
    }

    again = await desk.inbox.store_many(batch, now=START + timedelta(minutes=1), handoff=handoff())
    assert again.outcomes == [(False, False)] * len(batch)
    assert (again.claims, again.due) == ([], 0)
    assert len(await deliveries(desk)) == 6


@pytest.mark.parametrize("desk", ["postgresql"], indirect=True)  # SQLite: a transaction, as before
async def test_on_postgresql_a_batch_is_two_statements_without_a_transaction(desk: Desk) -> None:
    await desk.inbox.store_many([notice(1)], now=START, handoff=handoff())  # a connection's first use
    desk.statements.clear()

    stored = await desk.inbox.store_many([notice(2), notice(3, QUIET), notice(1)], now=START, handoff=handoff())

    assert stored.outcomes == [(True, True), (True, True), (False, False)]
    assert [s.split()[0].strip(";").upper() for s in desk.statements] == ["SELECT", "WITH"], desk.statements


def attempt(n: int, outcome: Outcome, *, status: int | None, tried_before: int = 0) -> Attempted:
    retry_at = START + timedelta(minutes=5) if outcome is Outcome.RETRY else None
    error = None if status == 204 else "HTTP 500"
    claim = Claim(notice(n).notice_id, BUSY, tried_before, tried_before)
    return Attempted(claim, SendResult(status, 12.5, error), NextStep(outcome, retry_at), START + timedelta(seconds=n))


async def attempts_state(desk: Desk) -> tuple[dict[str, tuple[object, ...]], dict[str, tuple[object, ...]], list[str]]:
    """The notices' statuses and schedules, and the status events waiting in the outbox."""
    async with desk.sessions() as session:
        notices = (await session.execute(select(InboxNotice))).scalars().all()
        schedules = (await session.execute(select(Delivery))).scalars().all()
        tried = (await session.execute(select(DeliveryAttempt))).scalars().all()
        outbox = (await session.execute(select(OutboxRow).order_by(col(OutboxRow.id)))).scalars().all()
    numbers = {t.notice_id: (t.number, t.status_code, t.latency_ms, t.error) for t in tried}
    return (
        {n.notice_id: (n.status, n.delivered_at is not None, numbers.get(n.notice_id)) for n in notices},
        {d.notice_id: (d.state, d.round_attempts, d.total_attempts, d.last_error) for d in schedules},
        [f"{row.envelope['type']}:{row.envelope['payload']['notice_id'][-2:]}" for row in outbox],
    )


async def test_a_batch_of_attempts_records_each_and_settles_what_it_ends(desk: Desk) -> None:
    await desk.inbox.store_many([notice(n) for n in (1, 2, 3, 4)], now=START, handoff=None)
    await desk.deliveries.record_many([attempt(4, Outcome.DELIVERED, status=204)])  # delivered before

    await desk.deliveries.record_many(
        [
            attempt(1, Outcome.DELIVERED, status=204),
            attempt(2, Outcome.RETRY, status=500),
            attempt(3, Outcome.FAILED, status=500, tried_before=2),
            attempt(4, Outcome.DELIVERED, status=204, tried_before=1),  # pushed again (a redelivery): no new event
        ]
    )

    notices, schedules, events = await attempts_state(desk)
    assert notices == {
        notice(1).notice_id: ("delivered", True, (1, 204, 12.5, None)),
        notice(2).notice_id: ("issued", False, (1, 500, 12.5, "HTTP 500")),
        notice(3).notice_id: ("failed", False, (3, 500, 12.5, "HTTP 500")),
        notice(4).notice_id: ("delivered", True, (2, 204, 12.5, None)),
    }
    assert schedules == {
        notice(1).notice_id: ("delivered", 1, 1, None),
        notice(2).notice_id: ("pending", 1, 1, "HTTP 500"),
        notice(3).notice_id: ("failed", 3, 3, "HTTP 500"),
        notice(4).notice_id: ("delivered", 2, 2, None),
    }
    assert events == ["NoticeDelivered:04", "NoticeDelivered:01"]


@pytest.mark.parametrize("desk", ["postgresql"], indirect=True)
async def test_on_postgresql_attempts_are_one_statement_and_settling_four(desk: Desk) -> None:
    await desk.inbox.store_many([notice(n) for n in (1, 2, 3, 9)], now=START, handoff=None)
    for outcome in (Outcome.RETRY, Outcome.DELIVERED):  # the connection's first use of these types: asyncpg asks
        await desk.deliveries.record_many([attempt(9, outcome, status=204)])
    desk.statements.clear()

    await desk.deliveries.record_many([attempt(1, Outcome.RETRY, status=500), attempt(2, Outcome.RETRY, status=500)])
    assert [s.split()[0].strip(";").upper() for s in desk.statements] == ["WITH"], desk.statements
    desk.statements.clear()

    await desk.deliveries.record_many([attempt(1, Outcome.DELIVERED, status=204), attempt(3, Outcome.RETRY, status=0)])
    sent = [s.split()[0].strip(";").upper() for s in desk.statements]
    assert sorted(sent) == ["BEGIN", "COMMIT", "SELECT", "WITH"], desk.statements
    _, _, events = await attempts_state(desk)
    assert events == ["NoticeDelivered:09", "NoticeDelivered:01"]


async def test_an_attempt_whose_round_moved_on_since_its_claim_counts_in_the_old_round(desk: Desk) -> None:
    """A redelivery during the push began a new round: the attempt is logged and a delivery stands, but a failure,
    even the old round's last, leaves the new round's first push due at once and the notice not failed."""
    await desk.inbox.store_many([notice(n) for n in (1, 2, 3, 4)], now=START, handoff=None)
    for n in (1, 2, 3):  # claimed (in round 0) before these redeliveries
        stored = await desk.inbox.get(notice(n).notice_id)
        assert stored is not None
        assert await desk.deliveries.redeliver(stored, now=START)

    steps = await desk.deliveries.record_many(
        [
            attempt(1, Outcome.FAILED, status=500, tried_before=2),  # the old round's last
            attempt(2, Outcome.RETRY, status=500, tried_before=1),
            attempt(3, Outcome.DELIVERED, status=204, tried_before=2),
            attempt(4, Outcome.FAILED, status=500, tried_before=2),  # no redelivery: the round is over
        ]
    )

    first, second = START + timedelta(seconds=1), START + timedelta(seconds=2)
    assert steps == [
        NextStep(Outcome.RETRY, first),
        NextStep(Outcome.RETRY, second),
        NextStep(Outcome.DELIVERED),
        NextStep(Outcome.FAILED),
    ]
    notices, schedules, events = await attempts_state(desk)
    assert notices == {
        notice(1).notice_id: ("issued", False, (3, 500, 12.5, "HTTP 500")),
        notice(2).notice_id: ("issued", False, (2, 500, 12.5, "HTTP 500")),
        notice(3).notice_id: ("delivered", True, (3, 204, 12.5, None)),
        notice(4).notice_id: ("failed", False, (3, 500, 12.5, "HTTP 500")),
    }
    assert schedules == {
        notice(1).notice_id: ("pending", 0, 3, "HTTP 500"),
        notice(2).notice_id: ("pending", 0, 2, "HTTP 500"),
        notice(3).notice_id: ("delivered", 0, 3, None),
        notice(4).notice_id: ("failed", 3, 3, "HTTP 500"),
    }
    due = await deliveries(desk)
    assert (due[notice(1).notice_id][2], due[notice(2).notice_id][2]) == (first, second)
    assert events == ["NoticeDelivered:03"]


async def test_an_answer_looks_up_what_is_owed_to_a_partner_only_for_a_partners_notice(desk: Desk) -> None:
    """The look-up of a partner's message behind a notice, one query an answer, only for a notice a partner sent:
    every other answer goes to our own routing through the status outbox."""
    asked: list[str] = []

    async def owed(session: AsyncSession, notice_id: str, now: datetime) -> bool:
        asked.append(notice_id)
        return True

    sealed = SealedNotices(TEST_KEYRING)
    events = StatusEvents(b"test-person-key-secret", sealed)
    inbox = Inbox(desk.sessions, events, sealed, served_districts=["440111"], answers_owed=owed)
    ours, theirs = notice(41, QUIET), notice(42, QUIET)
    await inbox.store(ours, now=START)
    async with desk.sessions.begin() as session:
        await inbox.add_in(session, theirs, now=START, from_partner=True)
    given = Answer(FeedbackResult.CONFIRMED, {}, None, "", QUIET)
    for stored in (ours, theirs):
        await inbox.answer(stored.notice_id, given, now=START + timedelta(hours=1))
    assert asked == [theirs.notice_id]
    async with desk.sessions() as session:
        keys = [
            row.envelope["payload"]["notice_id"]
            for row in (await session.execute(select(OutboxRow))).scalars()
            if row.envelope["type"] == "NoticeAnswered"
        ]
    assert keys == [ours.notice_id]  # the partner's answer is owed to it, not published to routing


class Refused(Exception):
    pass


async def test_an_answer_refused_by_its_check_writes_nothing_and_the_check_sees_the_notice_as_stored(
    desk: Desk,
) -> None:
    """The answer route checks scope and the answer itself on the notice it has read and locked, in the answer's
    own transaction: a refusal there leaves the notice unanswered and no event behind."""
    sealed = SealedNotices(TEST_KEYRING)
    inbox = Inbox(desk.sessions, StatusEvents(b"test-person-key-secret", sealed), sealed)
    stored = notice(43, QUIET)
    await inbox.store(stored, now=START)
    seen: list[tuple[str, str] | None] = []

    def refuse(found: InboxNotice | None) -> None:
        seen.append((found.notice_id, found.recipient_code) if found else None)
        raise Refused

    given = Answer(FeedbackResult.CONFIRMED, {}, None, "", QUIET)
    for notice_id in (stored.notice_id, "no-such-notice"):
        with pytest.raises(Refused):
            await inbox.answer(notice_id, given, now=START + timedelta(hours=1), check=refuse)
    with pytest.raises(Refused):
        await inbox.acknowledge(stored.notice_id, by=QUIET, now=START + timedelta(hours=1), check=refuse)
    assert seen == [
        (stored.notice_id, QUIET),
        None,
        (stored.notice_id, QUIET),
    ]
    unchanged = await inbox.get(stored.notice_id)
    assert unchanged is not None
    assert (unchanged.status, unchanged.answered_at, unchanged.acknowledged_at) == ("issued", None, None)
    async with desk.sessions() as session:
        assert [row.envelope["type"] for row in (await session.execute(select(OutboxRow))).scalars()] == []
    event = await inbox.answer(stored.notice_id, given, now=START + timedelta(hours=1))
    assert event is not None  # a check that lets it pass: answered
    assert event.notice_id == stored.notice_id


async def test_two_clerks_answering_at_once_make_one_answer_and_one_event(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer is written only on a notice without one, so the second clerk is told it was answered (409 at the
    route), and one event waits in the outbox. On PostgreSQL an answer is two statements, each sent alone: both
    clerks read the notice unanswered before either writes, and the second's write finds it answered. SQLite answers
    in a transaction that holds the store's lock from its read: the second clerk reads the notice once the first's
    answer is in, however long the first takes between its read and its write."""
    stored = notice(44, QUIET)
    await desk.inbox.store(stored, now=START)
    postgres = desk.sessions.kw["bind"].dialect.name == "postgresql"
    both_read = asyncio.Barrier(2)  # PostgreSQL: both clerks have read the notice unanswered before either writes

    async def after_both_read(*arguments: Any, write: Any = desk.inbox._answer_alone, **keywords: Any) -> Any:
        await both_read.wait()
        return await write(*arguments, **keywords)

    async def slowly(*arguments: Any, write: Any = desk.inbox.answer_in, **keywords: Any) -> Any:
        await asyncio.sleep(0.3)  # SQLite: the first clerk to read takes its time; the other arrives meanwhile
        return await write(*arguments, **keywords)

    if postgres:
        monkeypatch.setattr(desk.inbox, "_answer_alone", after_both_read)
    else:
        monkeypatch.setattr(desk.inbox, "answer_in", slowly)
    read_answered: list[bool] = []  # each clerk's read: did the notice have an answer

    def note_the_read(found: InboxNotice | None) -> None:
        assert found is not None
        read_answered.append(found.answered_at is not None)

    given = [Answer(result, {}, None, "", QUIET) for result in (FeedbackResult.CONFIRMED, FeedbackResult.NOT_FOUND)]
    desk.statements.clear()
    outcomes = await asyncio.gather(
        *(
            desk.inbox.answer(stored.notice_id, one, now=START + timedelta(hours=1), check=note_the_read)
            for one in given
        ),
        return_exceptions=True,
    )
    assert read_answered == ([False, False] if postgres else [False, True])
    answered = [outcome for outcome in outcomes if isinstance(outcome, NoticeAnswered)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, AlreadyAnswered)]
    assert (len(answered), len(refused)) == (1, 1), outcomes
    if postgres:
        said = [" ".join(s.split()).split()[0].upper() for s in desk.statements]
        assert sorted(said) == ["SELECT", "SELECT", "WITH", "WITH"], desk.statements
    shown = await desk.inbox.get(stored.notice_id)
    assert shown is not None
    assert shown.status == "answered"
    assert shown.answered_at is not None
    assert utc(shown.answered_at) == START + timedelta(hours=1)
    async with desk.sessions() as session:
        events = [row.envelope for row in (await session.execute(select(OutboxRow))).scalars()]
    assert [(e["type"], e["payload"]["result"]) for e in events] == [("NoticeAnswered", answered[0].result.value)]


async def test_an_answer_while_an_acknowledgement_is_written_waits_and_stays_answered(tmp_path: Path) -> None:
    """Another clerk's answer, sent while the acknowledgement has read the notice, is written after it (the store's
    lock, SQLite's as PostgreSQL's row lock): the acknowledgement finds no answer, and the answer stays. Before
    build_engine began SQLite's transactions at their first read, the answer went in between the read and the write,
    and the acknowledgement had to write on a condition not to put the status back to acknowledged."""
    async with migrated_store("sqlite", "notif_", MIGRATIONS, tmp_path) as engine:
        sealed = SealedNotices(TEST_KEYRING)
        inbox = Inbox(session_factory(engine), StatusEvents(b"test-person-key-secret", sealed), sealed)
        stored = notice(45, QUIET)
        await inbox.store(stored, now=START)
        answered_at, file = (START + timedelta(minutes=5)).isoformat(), str(engine.url.database)
        others: list[threading.Thread] = []

        def another_clerk_answers() -> None:
            with sqlite3.connect(file, timeout=10) as other:  # its own write, committed at the block's end
                other.execute(
                    "UPDATE inbox_notices SET status = 'answered', answered_at = ? WHERE notice_id = ?",
                    (answered_at, stored.notice_id),
                )

        def answered_meanwhile(found: InboxNotice | None) -> None:
            assert found is not None
            others.append(threading.Thread(target=another_clerk_answers))
            others[0].start()
            time.sleep(0.3)  # time enough for the other clerk's write to go in, were the store not locked

        acked = await inbox.acknowledge(
            stored.notice_id, by=QUIET, now=START + timedelta(minutes=10), check=answered_meanwhile
        )
        await asyncio.to_thread(others[0].join, 15)
        assert acked is not None
        assert acked.status == "acknowledged"  # no answer yet when it was written
        shown = await inbox.get(stored.notice_id)
        assert shown is not None
        assert (shown.status, shown.acknowledged_at is not None) == ("answered", True)
