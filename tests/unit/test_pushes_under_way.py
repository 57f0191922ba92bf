"""Pushes under way, on SQLite: a hand-off (a notice stored with its push taken at once) and a claim of due
pushes, together, never push more than `max_in_flight` at a time; a redelivery never starts a second push of a
notice beside one under way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.notification.adapters.deliveries import DeliveryStore
from services.notification.adapters.inbox import Inbox
from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.secrets import SecretBox
from services.notification.adapters.webhooks import WebhookStore
from services.notification.bootstrap import MIGRATIONS
from services.notification.domain.backoff import BackoffPolicy
from services.notification.domain.signing import secret_of
from services.notification.service_layer.delivery import DeliveryWorker, WorkerLimits
from shared.db import build_engine, run_migrations, session_factory
from tests.support.infra import TEST_KEYRING
from tests.support.notices import numbered_notice
from tests.support.notification_fakes import FakeClock, FakeWebhookSender

START = datetime(2027, 2, 24, 2, 0, tzinfo=UTC)
SECRET = secret_of(b"a-shared-secret-of-some-length..")
POLICY = BackoffPolicy(base_s=1.0, cap_s=4.0, max_attempts=3)


def hook(code: str) -> str:
    return f"http://{code}.example/hook"


class Desk:
    def __init__(self, sessions: object) -> None:
        sealed = SealedNotices(TEST_KEYRING)
        events = StatusEvents(b"test-person-key-secret", sealed)
        self.sealed = sealed
        self.inbox = Inbox(sessions, events, sealed)  # type: ignore[arg-type]
        self.webhooks = WebhookStore(sessions, SecretBox("test-box-key"))  # type: ignore[arg-type]
        self.store = DeliveryStore(sessions, events)  # type: ignore[arg-type]
        self.sender = FakeWebhookSender()
        self.clock = FakeClock(START)

    def worker(self, *, per_recipient: int = 2, max_in_flight: int = 10) -> DeliveryWorker:
        return DeliveryWorker(
            store=self.store,
            webhooks=self.webhooks,
            sender=self.sender,
            clock=self.clock,
            policy=POLICY,
            limits=WorkerLimits(
                per_recipient=per_recipient, max_in_flight=max_in_flight, lease_s=60, poll_interval_s=0.1
            ),
            record_link_base="http://intake/v1/records/",
            sealed=self.sealed,
        )


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/notification.db")
    await run_migrations(engine, MIGRATIONS)
    try:
        yield Desk(session_factory(engine))
    finally:
        await engine.dispose()


async def test_a_hand_off_and_a_claim_together_never_push_beyond_max_in_flight(desk: Desk) -> None:
    """Each reckoned its room from the same pushes held: together they held twice the cap, and the extra pushes
    waited for one of aiohttp's connections (as many as the cap) inside their own timeout."""
    codes = ["440111001", "440111002", "440111003", "440111004"]
    for code in codes:
        await desk.webhooks.put(code, url=hook(code), secret=SECRET, now=START)
        desk.sender.statuses[hook(code)] = 204
    desk.sender.delay_s = 0.3
    worker = desk.worker(per_recipient=1, max_in_flight=2)
    # two notices already due (stored before, e.g. while the worker was busy)
    await desk.inbox.store(numbered_notice(1, codes[0], issued_at=START), now=START)
    await desk.inbox.store(numbered_notice(2, codes[1], issued_at=START), now=START)
    runner = asyncio.create_task(worker.run())
    await asyncio.sleep(0)  # run() is pushing: hand-offs are taken
    try:
        # NoticeReceiver.receive: the hand-off's room is reckoned, then the batch is stored (awaits the database) ...
        handoff = worker.handoff()
        assert handoff is not None
        await worker._claim()  # ... meanwhile the worker's loop claims the due pushes with the same free room
        fresh = [numbered_notice(3, codes[2], issued_at=START), numbered_notice(4, codes[3], issued_at=START)]
        stored = await desk.inbox.store_many(fresh, now=START, handoff=handoff)
        worker.take(stored.claims)
        most = 0
        for _ in range(200):  # until every notice is pushed: those held back start as slots free
            most = max(most, sum(desk.sender.in_flight.values()))
            if len(desk.sender.sent) == 4 and not any(desk.sender.in_flight.values()):
                break
            await asyncio.sleep(0.01)
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
    assert most <= 2, f"{most} pushes in flight with MAX_CONCURRENT_DELIVERIES=2"
    assert sorted(sent.url for sent in desk.sender.sent) == sorted(hook(code) for code in codes)


async def test_a_redelivery_during_a_push_leaves_it_to_finish_and_no_other_replica_pushes_beside_it(
    desk: Desk,
) -> None:
    """A redelivery made the row due at once, and another replica's claim pushed the notice beside the push
    under way, both attempts numbered alike."""
    code = "440111008"
    await desk.webhooks.put(code, url=hook(code), secret=SECRET, now=START)
    desk.sender.statuses[hook(code)] = 204
    desk.sender.delay_s = 0.5  # the first replica's request is still in flight ...
    notice = numbered_notice(1, code, issued_at=START)
    await desk.inbox.store(notice, now=START)
    replica_a, replica_b = desk.worker(), desk.worker()

    first = asyncio.create_task(replica_a.deliver_due())
    for _ in range(300):
        if desk.sender.sent:
            break
        await asyncio.sleep(0.01)
    stored = await desk.inbox.get(notice.notice_id)
    assert stored is not None
    assert await desk.store.redeliver(stored, now=desk.clock.now())  # ... when a clerk asks for a redelivery
    claimed_by_b = await replica_b.deliver_due()
    await first

    # the lease of A's claim was overwritten: B claimed and pushed the very same notice while A's push was open
    assert claimed_by_b == 0, "replica B pushed a notice whose push was in flight at replica A"
    assert desk.sender.most_in_flight[hook(code)] == 1
    assert len(desk.sender.sent) == 1


async def test_a_redelivery_of_a_notice_waiting_out_its_backoff_is_due_at_once(desk: Desk) -> None:
    """Only a push under way keeps the row: a notice whose last push failed, waiting for its retry, is pushed
    as soon as a clerk asks (a receiver mended)."""
    code = "440111008"
    await desk.webhooks.put(code, url=hook(code), secret=SECRET, now=START)
    desk.sender.statuses[hook(code)] = 500
    notice = numbered_notice(1, code, issued_at=START)
    await desk.inbox.store(notice, now=START)
    worker = desk.worker()
    assert await worker.deliver_due() == 1  # failed: its retry a second or so later
    assert await worker.deliver_due() == 0  # not due yet
    desk.sender.statuses[hook(code)] = 204
    stored = await desk.inbox.get(notice.notice_id)
    assert stored is not None
    assert await desk.store.redeliver(stored, now=desk.clock.now())
    assert await worker.deliver_due() == 1
    assert len(desk.sender.sent) == 2
