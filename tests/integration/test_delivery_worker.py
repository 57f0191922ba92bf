"""The delivery worker on real PostgreSQL with the fake sender and clock: schedule, retries, failure, redelivery.

Time is the fake clock's, so the backoff schedule is checked exactly and
nothing waits for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlmodel import col

from services.notification.adapters.deliveries import DeliveryStore
from services.notification.adapters.delivery_claims import Handoff
from services.notification.adapters.destinations import DestinationGuard
from services.notification.adapters.inbox import Inbox
from services.notification.adapters.metrics import PUSH_WINDOW
from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.secrets import SecretBox
from services.notification.adapters.sender import PinnedWebhookSender
from services.notification.adapters.tables import Delivery, InboxNotice, OutboxRow, WebhookSubscription
from services.notification.adapters.webhooks import WebhookStore
from services.notification.bootstrap import MIGRATIONS
from services.notification.domain.backoff import BackoffPolicy
from services.notification.domain.destinations import DestinationPolicy
from services.notification.domain.signing import secret_of, signature
from services.notification.service_layer import push_attempts
from services.notification.service_layer.delivery import DeliveryWorker, WorkerLimits
from services.notification.service_layer.receiving import NoticeReceiver
from shared.db import build_engine, run_migrations, session_factory
from shared.events import NoticeIssued
from shared.identity import person_key
from tests.support.infra import TEST_KEYRING, create_database, drop_database, unique_name
from tests.support.logs import logged_by
from tests.support.notices import numbered_notice
from tests.support.notification_fakes import FakeClock, FakeWebhookSender
from tests.support.records import id_number
from tests.support.waiting import eventually

START = datetime(2027, 2, 24, 2, 0, tzinfo=UTC)
HOOK, OTHER_HOOK = "http://street.example/hook", "http://other.example/hook"
SECRET = secret_of(b"a-shared-secret-of-some-length..")
POLICY = BackoffPolicy(base_s=1.0, cap_s=4.0, max_attempts=3)


@dataclass
class Desk:
    inbox: Inbox
    webhooks: WebhookStore
    store: DeliveryStore
    worker: DeliveryWorker
    sender: FakeWebhookSender
    clock: FakeClock
    sessions: object


@pytest.fixture
async def desk() -> AsyncIterator[Desk]:
    name = unique_name("notif_")
    engine = build_engine(await create_database(name), plan_each_time=True)  # as notification's runtime has it
    await run_migrations(engine, MIGRATIONS)
    sessions = session_factory(engine)
    sealed = SealedNotices(TEST_KEYRING)
    events = StatusEvents(b"test-person-key-secret", sealed)
    inbox, webhooks = Inbox(sessions, events, sealed), WebhookStore(sessions, SecretBox("test-box-key"))
    store, sender, clock = DeliveryStore(sessions, events), FakeWebhookSender(), FakeClock(START)
    worker = DeliveryWorker(
        store=store,
        webhooks=webhooks,
        sender=sender,
        clock=clock,
        policy=POLICY,
        limits=WorkerLimits(per_recipient=2, max_in_flight=10, lease_s=60, poll_interval_s=0.1),
        record_link_base="http://intake/v1/records/",
        sealed=sealed,
    )
    try:
        yield Desk(inbox, webhooks, store, worker, sender, clock, sessions)
    finally:
        await engine.dispose()
        await drop_database(name)


def notice(n: int, recipient: str = "440111008", kind: str = "transfer") -> NoticeIssued:
    return numbered_notice(n, recipient, kind, issued_at=START)


async def subscribe(desk: Desk, recipient: str = "440111008", url: str = HOOK) -> None:
    await desk.webhooks.put(recipient, url=url, secret=SECRET, now=START)


async def outbox_types(desk: Desk) -> list[str]:
    async with desk.sessions() as session:  # type: ignore[operator]
        rows = (await session.execute(select(OutboxRow).order_by(col(OutboxRow.id)))).scalars()
        return [row.envelope["type"] for row in rows]


async def test_a_notice_is_pushed_once_signed_with_only_what_the_recipient_needs(desk: Desk) -> None:
    await subscribe(desk)
    desk.sender.statuses[HOOK] = 204
    assert await desk.inbox.store(notice(1), now=START) == (True, True)
    assert await desk.inbox.store(notice(1), now=START) == (False, False)  # Kafka re-delivery

    assert await desk.worker.deliver_due() == 1
    assert await desk.worker.deliver_due() == 0
    [sent] = desk.sender.sent
    headers = sent.headers
    assert headers["webhook-id"] == notice(1).notice_id
    assert headers["webhook-timestamp"] == str(int(START.timestamp()))
    assert headers["webhook-signature"] == signature(
        SECRET, notice(1).notice_id, headers["webhook-timestamp"], sent.body
    )
    body = json.loads(sent.body)
    assert set(body) == {
        "notice_id", "kind", "recipient_code", "route", "reason", "person", "record_id", "record_link", "issued_at",
        "answer_expected", "answer_due",
    }  # fmt: skip
    assert set(body["person"]) == {"name", "id_number", "residence_address"}
    stored = await desk.inbox.get(notice(1).notice_id)
    assert stored is not None
    assert stored.status == "delivered"
    assert await outbox_types(desk) == ["NoticeDelivered"]


async def test_failures_follow_the_backoff_then_fail_and_a_redelivery_succeeds(desk: Desk) -> None:
    await subscribe(desk)
    desk.sender.statuses[HOOK] = 503
    await desk.inbox.store(notice(2), now=START)

    await desk.worker.deliver_due()
    delivery, attempts = await desk.store.history(notice(2).notice_id)
    assert delivery is not None
    assert [a.status_code for a in attempts] == [503]
    due = delivery.next_attempt_at
    assert due is not None
    assert START + timedelta(seconds=0.5) <= due <= START + timedelta(seconds=1.0)
    assert await desk.worker.deliver_due() == 0  # not due yet

    for _ in range(2):
        desk.clock.advance(4.0)
        assert await desk.worker.deliver_due() == 1
    delivery, attempts = await desk.store.history(notice(2).notice_id)
    assert delivery is not None
    assert (delivery.state, len(attempts)) == ("failed", 3)
    failed = await desk.store.failed(prefix="440111", limit=10)
    assert [d.notice_id for d, _ in failed] == [notice(2).notice_id]
    assert await desk.store.failed(prefix="440106", limit=10) == []

    desk.sender.statuses[HOOK] = 200
    stored = await desk.inbox.get(notice(2).notice_id)
    assert stored is not None
    assert stored.status == "failed"
    assert await desk.store.redeliver(stored, now=desk.clock.now()) is True
    assert await desk.worker.deliver_due() == 1
    delivery, attempts = await desk.store.history(notice(2).notice_id)
    assert delivery is not None
    assert (delivery.state, [a.number for a in attempts]) == ("delivered", [1, 2, 3, 4])
    assert await outbox_types(desk) == ["NoticeDelivered"]


async def test_a_recipient_gets_at_most_its_share_of_concurrent_pushes(desk: Desk) -> None:
    await subscribe(desk)
    await subscribe(desk, "440111005", OTHER_HOOK)
    desk.sender.statuses.update({HOOK: 200, OTHER_HOOK: 200})
    for n in range(10, 15):
        await desk.inbox.store(notice(n), now=START)
    await desk.inbox.store(notice(20, "440111005"), now=START)

    desk.sender.delay_s = 0.05  # requests overlap: the limit, not the timing, keeps them apart
    # the busy street: two in flight and two claimed ahead, waiting for a slot; the other: one
    assert await desk.worker.deliver_due() == 5
    assert (desk.sender.most_in_flight[HOOK], desk.sender.most_in_flight[OTHER_HOOK]) == (2, 1)
    assert sorted(s.url for s in desk.sender.sent) == [OTHER_HOOK, HOOK, HOOK, HOOK, HOOK]
    while await desk.worker.deliver_due():
        pass
    assert len(desk.sender.sent) == 6
    assert desk.sender.most_in_flight[HOOK] == 2


async def test_storing_hands_new_pushes_over_as_claims_as_far_as_the_room_given(desk: Desk) -> None:
    await subscribe(desk)
    await subscribe(desk, "440111005", OTHER_HOOK)
    lease_until = START + timedelta(seconds=60)
    handoff = Handoff(lease_until=lease_until, limit=3, room=lambda code: 2)
    batch = [notice(n) for n in range(40, 45)] + [notice(50, "440111005"), notice(51, "440111999"), notice(40)]

    stored = await desk.inbox.store_many(batch, now=START, handoff=handoff)

    # two of the busy street's (its room), then the other street's (the limit); no webhook: nothing to push
    assert stored.outcomes == [(True, True)] * 6 + [(True, False), (False, False)]
    assert [c.notice_id for c in stored.claims] == [notice(n).notice_id for n in (40, 41, 50)]
    assert all(c.notice is not None and c.subscription is not None for c in stored.claims)
    assert stored.due == 3
    async with desk.sessions() as session:  # type: ignore[operator]
        rows = (await session.execute(select(Delivery).order_by(col(Delivery.notice_id)))).scalars().all()
    leased = {r.notice_id for r in rows if r.next_attempt_at == lease_until}
    assert leased == {c.notice_id for c in stored.claims}
    assert {r.notice_id for r in rows if r.next_attempt_at == START} == {notice(n).notice_id for n in (42, 43, 44)}
    kept = await desk.inbox.get(notice(40).notice_id)
    assert kept is not None  # the person key is kept for the notice's status events
    assert kept.person_key == person_key(id_number(sequence=40), b"test-person-key-secret")


async def test_received_notices_are_pushed_once_each_within_the_recipients_share(desk: Desk) -> None:
    await subscribe(desk)
    await subscribe(desk, "440111005", OTHER_HOOK)
    desk.sender.statuses.update({HOOK: 200, OTHER_HOOK: 200})
    desk.sender.delay_s = 0.05
    receiver = NoticeReceiver(inbox=desk.inbox, worker=desk.worker, clock=desk.clock)
    assert desk.worker.handoff() is None  # no worker running: the pushes are left due for its claim
    running = asyncio.create_task(desk.worker.run())
    await asyncio.sleep(0.05)
    assert desk.worker.handoff() is not None

    await receiver.receive([notice(n) for n in range(60, 67)] + [notice(70, "440111005")])
    await receiver.receive([notice(60)])  # Kafka re-delivery
    while len(desk.sender.sent) < 8:  # noqa: ASYNC110 - polling the fake
        await asyncio.sleep(0.01)

    async def all_delivered() -> bool:
        """Every push recorded: the fake counts a request when it starts, the worker records it when answered."""
        for n in [*range(60, 67), 70]:
            delivery, _ = await desk.store.history(notice(n).notice_id)
            if delivery is None or delivery.state != "delivered":
                return False
        return True

    await eventually(all_delivered, within=10)
    await asyncio.sleep(0.2)  # a second push of any notice would show
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running

    ids = [json.loads(s.body)["notice_id"] for s in desk.sender.sent]
    assert sorted(ids) == sorted(notice(n).notice_id for n in [*range(60, 67), 70])
    for sent in desk.sender.sent:  # handed over or claimed, the same document
        body = json.loads(sent.body)
        person = notice(int(body["notice_id"][-12:])).person
        assert body["person"] == person.model_dump(include={"name", "id_number", "residence_address"})
    assert desk.sender.most_in_flight[HOOK] == 2
    for notice_id in ids:
        delivery, attempts = await desk.store.history(notice_id)
        assert delivery is not None
        assert (delivery.state, len(attempts)) == ("delivered", 1)


async def answering_backlog(desk: Desk, numbers: range, *, delay_s: float) -> None:
    """The street's webhook, answering 200 after `delay_s`, with the notices `numbers` stored for it."""
    await subscribe(desk)
    desk.sender.statuses[HOOK] = 200
    desk.sender.delay_s = delay_s
    for n in numbers:
        await desk.inbox.store(notice(n), now=START)


async def test_stopping_the_worker_starts_none_of_the_claims_waiting_for_a_slot(desk: Desk) -> None:
    await answering_backlog(desk, range(30, 35), delay_s=0.3)
    running = asyncio.create_task(desk.worker.run())
    while len(desk.sender.sent) < 2:  # noqa: ASYNC110 - polling the fake: two in flight, two claimed and waiting
        await asyncio.sleep(0.01)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    await asyncio.sleep(0.5)  # longer than a request: a waiting claim started on the way out would show
    assert len(desk.sender.sent) == 2


async def test_a_removed_webhook_cancels_pending_pushes_and_redelivery_needs_one(desk: Desk) -> None:
    await subscribe(desk)
    await desk.inbox.store(notice(30, kind="recheck"), now=START)
    assert await desk.webhooks.delete("440111008") is True
    await desk.worker.deliver_due()
    delivery, attempts = await desk.store.history(notice(30).notice_id)
    assert delivery is not None
    assert (delivery.state, attempts, desk.sender.sent) == ("cancelled", [], [])
    stored = await desk.inbox.get(notice(30).notice_id)
    assert stored is not None
    assert stored.kind == "recheck"
    assert await desk.store.redeliver(stored, now=START) is False


async def test_a_new_secret_signs_the_next_push_though_the_old_one_was_opened_before(desk: Desk) -> None:
    await subscribe(desk)
    desk.sender.statuses[HOOK] = 200
    await desk.inbox.store(notice(80), now=START)
    assert await desk.worker.deliver_due() == 1
    new_secret = secret_of(b"another-shared-secret-of-length.")
    await desk.webhooks.put("440111008", url=HOOK, secret=new_secret, now=START)
    await desk.inbox.store(notice(81), now=START)
    assert await desk.worker.deliver_due() == 1

    first, second = desk.sender.sent
    for sent, secret in ((first, SECRET), (second, new_secret)):
        timestamp = sent.headers["webhook-timestamp"]
        assert sent.headers["webhook-signature"] == signature(secret, sent.headers["webhook-id"], timestamp, sent.body)


async def test_webhook_secret_is_stored_encrypted(desk: Desk) -> None:
    await subscribe(desk)
    async with desk.sessions() as session:  # type: ignore[operator]
        row = await session.get(WebhookSubscription, "440111008")
        delivery_rows = (await session.execute(select(Delivery))).scalars().all()
    assert row is not None
    assert SECRET not in row.secret_ciphertext
    assert delivery_rows == []
    assert desk.webhooks.target_of(row).secret == SECRET


async def test_a_refused_destination_fails_the_round_at_once_with_the_reason(desk: Desk) -> None:
    await subscribe(desk, url="https://169.254.169.254/latest/meta-data/")
    real = PinnedWebhookSender(timeout_s=1, max_connections=2, guard=DestinationGuard(DestinationPolicy()))
    worker = DeliveryWorker(
        store=desk.store,
        webhooks=desk.webhooks,
        sender=real,
        clock=desk.clock,
        policy=POLICY,
        limits=WorkerLimits(per_recipient=2, max_in_flight=10, lease_s=60, poll_interval_s=0.1),
        record_link_base="http://intake/v1/records/",
        sealed=SealedNotices(TEST_KEYRING),
    )
    try:
        await desk.inbox.store(notice(40), now=START)
        assert await worker.deliver_due() == 1
    finally:
        await real.close()
    delivery, attempts = await desk.store.history(notice(40).notice_id)
    assert delivery is not None
    assert (delivery.state, len(attempts)) == ("failed", 1)
    assert attempts[0].status_code is None
    assert attempts[0].error is not None
    assert "cloud metadata" in attempts[0].error
    stored = await desk.inbox.get(notice(40).notice_id)
    assert stored is not None
    assert stored.status == "failed"


async def test_a_secret_sealed_with_another_key_fails_the_delivery_at_once_with_the_reason(desk: Desk) -> None:
    # another checkout's deployment (another key) wrote this subscription into the shared database
    other_box = WebhookStore(desk.sessions, SecretBox("another-deployments-key"))  # type: ignore[arg-type]
    await other_box.put("440111008", url=HOOK, secret=SECRET, now=START)
    desk.sender.statuses[HOOK] = 204
    await desk.inbox.store(notice(9), now=START)

    assert await desk.worker.deliver_due() == 1
    assert await desk.worker.deliver_due() == 0  # failed, not left to the lease for ever
    delivery, attempts = await desk.store.history(notice(9).notice_id)
    assert delivery is not None
    assert delivery.state == "failed"
    assert delivery.last_error is not None
    assert "cannot be decrypted" in delivery.last_error
    assert [a.error for a in attempts] == [delivery.last_error]
    assert desk.sender.sent == []  # nothing went out unsigned or wrongly signed
    stored = await desk.inbox.get(notice(9).notice_id)
    assert stored is not None
    assert stored.status == "failed"


async def test_a_notice_whose_person_does_not_open_fails_at_once_naming_the_key(desk: Desk) -> None:
    """A data key dropped from POPFLOW_DATA_KEYS while stored notices still used it: each push raised on opening
    the person, was never recorded, and came due again at every lease's end, for ever and never `failed`."""
    await subscribe(desk)
    desk.sender.statuses[HOOK] = 204
    await desk.inbox.store(notice(10), now=START)
    async with desk.sessions.begin() as session:  # type: ignore[attr-defined]
        row = await session.get(InboxNotice, notice(10).notice_id)
        sealed_with = row.person_sealed.split(".")[1]
        row.person_sealed = row.person_sealed.replace(f".{sealed_with}.", ".retired.", 1)

    assert await desk.worker.deliver_due() == 1
    desk.clock.advance(120)  # past the lease: nothing comes due again
    assert await desk.worker.deliver_due() == 0
    delivery, attempts = await desk.store.history(notice(10).notice_id)
    assert delivery is not None
    assert (delivery.state, len(attempts)) == ("failed", 1)
    assert delivery.last_error == (
        "the notice's sealed data does not open: sealed with key id 'retired', which POPFLOW_DATA_KEYS does not hold"
    )
    assert desk.sender.sent == []


async def test_a_hand_off_whose_store_outlasted_half_its_lease_is_left_to_the_lease(desk: Desk) -> None:
    # the lease of a hand-off began before its storing transaction: a slow commit counts against it
    await subscribe(desk)
    desk.sender.statuses[HOOK] = 200
    running = asyncio.create_task(desk.worker.run())
    await asyncio.sleep(0.05)
    handoff = desk.worker.handoff()
    assert handoff is not None
    stored = await desk.inbox.store_many([notice(80), notice(81)], now=START, handoff=handoff)
    assert len(stored.claims) == 2
    desk.worker.take(stored.claims[:1], claimed_at=time.monotonic() - 31)  # lease_s is 60: past half of it
    desk.worker.take(stored.claims[1:], claimed_at=time.monotonic())
    while not desk.sender.sent:  # noqa: ASYNC110 - polling the fake
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # the late one, pushed anyway, would show
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert [json.loads(s.body)["notice_id"] for s in desk.sender.sent] == [notice(81).notice_id]
    late, _ = await desk.store.history(notice(80).notice_id)
    assert late is not None
    assert late.state != "delivered"  # left leased: claimed again once its lease ends


class CountedClaims:
    """The desk's store, counting the claims made on it."""

    def __init__(self, store: DeliveryStore) -> None:
        self.store, self.calls = store, 0

    async def claim(self, **kwargs: object) -> object:
        self.calls += 1
        return await self.store.claim(**kwargs)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


def polling_rarely(desk: Desk, claims: CountedClaims) -> DeliveryWorker:
    """A worker whose poll never comes during a test: what it claims, a wake made it claim."""
    return DeliveryWorker(
        store=claims,  # type: ignore[arg-type]
        webhooks=desk.webhooks,
        sender=desk.sender,
        clock=desk.clock,
        policy=POLICY,
        limits=WorkerLimits(per_recipient=2, max_in_flight=10, lease_s=60, poll_interval_s=600),
        record_link_base="http://intake/v1/records/",
        sealed=SealedNotices(TEST_KEYRING),
    )


async def test_a_steady_stream_of_handed_off_pushes_makes_no_claims(desk: Desk) -> None:
    # every push is handed over by the store: nothing is left due, so a finished push is no reason to claim
    await subscribe(desk)
    desk.sender.statuses[HOOK] = 200
    claims = CountedClaims(desk.store)
    worker = polling_rarely(desk, claims)
    receiver = NoticeReceiver(inbox=desk.inbox, worker=worker, clock=desk.clock)
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.05)
    at_start = claims.calls
    for n in range(100, 110, 2):
        await receiver.receive([notice(n), notice(n + 1)])
        while len(desk.sender.sent) < n - 98:  # noqa: ASYNC110 - polling the fake
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert len(desk.sender.sent) == 10
    assert claims.calls == at_start == 1


async def test_pushes_the_hand_off_had_no_room_for_are_claimed_as_slots_free(desk: Desk) -> None:
    # the recipient's room is 4 (2 in flight, 2 waiting): the other 4 are stored due, and claimed as its
    # slots free, not at the next poll (which never comes here)
    await subscribe(desk)
    desk.sender.statuses[HOOK] = 200
    desk.sender.delay_s = 0.05
    claims = CountedClaims(desk.store)
    worker = polling_rarely(desk, claims)
    receiver = NoticeReceiver(inbox=desk.inbox, worker=worker, clock=desk.clock)
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.05)
    await receiver.receive([notice(n) for n in range(120, 128)])
    for _ in range(500):
        if len(desk.sender.sent) == 8:
            break
        await asyncio.sleep(0.01)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert sorted(json.loads(s.body)["notice_id"] for s in desk.sender.sent) == [
        notice(n).notice_id for n in range(120, 128)
    ]
    assert desk.sender.most_in_flight[HOOK] == 2


def paced(desk: Desk, *, start: int, most: int, max_in_flight: int = 50) -> DeliveryWorker:
    """A worker whose recipients' windows start at `start` and widen up to `most` (domain/pacing.py)."""
    return DeliveryWorker(
        store=desk.store,
        webhooks=desk.webhooks,
        sender=desk.sender,
        clock=desk.clock,
        policy=POLICY,
        limits=WorkerLimits(
            per_recipient=start,
            max_in_flight=max_in_flight,
            lease_s=60,
            poll_interval_s=0.1,
            per_recipient_most=most,
        ),
        record_link_base="http://intake/v1/records/",
        sealed=SealedNotices(TEST_KEYRING),
    )


def window_shown(recipient: str) -> float:
    """The recipient's window as /metrics shows it (popflow_webhook_window)."""
    return next(
        sample.value
        for metric in PUSH_WINDOW.collect()
        for sample in metric.samples
        if sample.labels == {"recipient": recipient}
    )


async def run_until_sent(
    worker: DeliveryWorker, desk: Desk, count: int, watch: Callable[[], object] = lambda: None
) -> None:
    """Run the worker until `count` pushes were sent and answered; `watch` is called at each look."""
    running = asyncio.create_task(worker.run())
    try:
        for _ in range(1000):
            watch()
            if len(desk.sender.sent) >= count and not desk.sender.in_flight[HOOK]:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # a push beyond `count` would show
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_a_recipient_that_keeps_up_with_a_backlog_is_given_more_pushes_at_once_up_to_the_most(
    desk: Desk,
) -> None:
    await answering_backlog(desk, range(200, 240), delay_s=0.03)

    await run_until_sent(paced(desk, start=2, most=5), desk, 40)

    started = desk.sender.concurrency[HOOK]
    assert started[:2] == [1, 2]  # its window to begin with
    assert max(started) == 5  # widened while it answered with more waiting, and no further
    assert window_shown("440111008") == 5.0  # and the operators' series says so
    assert sorted(json.loads(s.body)["notice_id"] for s in desk.sender.sent) == sorted(
        notice(n).notice_id for n in range(200, 240)
    )


async def test_a_recipient_that_fails_is_sent_one_push_at_a_time_until_it_answers_again(desk: Desk) -> None:
    await answering_backlog(desk, range(300, 312), delay_s=0.03)
    desk.sender.script[HOOK] = [None, None, None, None]  # its first four requests time out

    await run_until_sent(paced(desk, start=4, most=8), desk, 12)

    started = desk.sender.concurrency[HOOK]
    # four at once; each timeout halves the window (4, 2, 1, 1), so the next push goes alone; its answer
    # widens the window to two (more wait), and so on: a fixed limit would start four again at once
    assert started[:7] == [1, 2, 3, 4, 1, 1, 2]
    assert window_shown("440111008") > 1.0  # answering again: widened since
    assert len(desk.sender.sent) == 12  # the four that timed out wait for their backoff (the clock stands still)
    delivered = [await desk.store.history(notice(n).notice_id) for n in range(300, 312)]
    assert sorted(d.state for d, _ in delivered if d is not None) == ["delivered"] * 8 + ["pending"] * 4


async def test_a_recipient_at_its_widest_holds_at_most_half_the_processs_pushes(desk: Desk) -> None:
    # its window may widen to 8, but 8 in flight and 8 claimed ahead would be all 16 of the process's
    # pushes: should it then hang, every other recipient would wait for its timeouts
    await answering_backlog(desk, range(400, 460), delay_s=0.03)
    worker = paced(desk, start=2, most=8, max_in_flight=16)
    held: list[int] = []

    await run_until_sent(worker, desk, 60, watch=lambda: held.append(worker._pushes.held("440111008")))

    assert len(desk.sender.sent) == 60
    assert max(desk.sender.concurrency[HOOK]) == 8  # its window widened to its most
    assert max(held) == 8  # half of 16, in flight and claimed ahead together


async def test_a_hand_off_and_a_claim_together_never_push_beyond_max_in_flight(desk: Desk) -> None:
    """Each reckoned its room from the same pushes held: together they held twice the cap, and the extra pushes
    waited for one of aiohttp's connections (as many as the cap) inside their own timeout."""
    codes = ["440111001", "440111002", "440111003", "440111004"]
    hooks = [f"http://{code}.example/hook" for code in codes]
    for code, url in zip(codes, hooks, strict=True):
        await subscribe(desk, code, url)
        desk.sender.statuses[url] = 204
    desk.sender.delay_s = 0.3
    worker = paced(desk, start=1, most=1, max_in_flight=2)
    # two notices already due (stored before, e.g. while the worker was busy)
    await desk.inbox.store(notice(1, codes[0]), now=START)
    await desk.inbox.store(notice(2, codes[1]), now=START)
    runner = asyncio.create_task(worker.run())
    await asyncio.sleep(0)  # run() is pushing: hand-offs are taken
    try:
        # NoticeReceiver.receive: the hand-off's room is reckoned, then the batch is stored (awaits the database) ...
        handoff = worker.handoff()
        assert handoff is not None
        await worker._claim()  # ... meanwhile the worker's loop claims the due pushes with the same free room
        stored = await desk.inbox.store_many([notice(3, codes[2]), notice(4, codes[3])], now=START, handoff=handoff)
        worker.take(stored.claims)
        most = 0
        for _ in range(300):  # until every notice is pushed: those held back start as slots free
            most = max(most, sum(desk.sender.in_flight.values()))
            if len(desk.sender.sent) == 4 and not any(desk.sender.in_flight.values()):
                break
            await asyncio.sleep(0.01)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    assert most <= 2, f"{most} pushes in flight with MAX_CONCURRENT_DELIVERIES=2"
    assert sorted(sent.url for sent in desk.sender.sent) == sorted(hooks)


async def test_a_redelivery_during_a_push_leaves_it_to_finish_and_no_other_replica_pushes_beside_it(
    desk: Desk,
) -> None:
    """A redelivery made the row due at once, and another replica's claim pushed the notice beside the push
    under way, both attempts numbered alike."""
    await subscribe(desk)
    desk.sender.statuses[HOOK] = 204
    desk.sender.held = answered = asyncio.Event()  # the first replica's request is still in flight ...
    await desk.inbox.store(notice(1), now=START)
    other_replica = paced(desk, start=2, most=2)

    first = asyncio.create_task(desk.worker.deliver_due())
    for _ in range(300):
        if desk.sender.sent:
            break
        await asyncio.sleep(0.01)
    stored = await desk.inbox.get(notice(1).notice_id)
    assert stored is not None
    assert await desk.store.redeliver(stored, now=desk.clock.now())  # ... when a clerk asks for a redelivery
    claimed_by_the_other = await other_replica.deliver_due()
    answered.set()
    await first

    assert claimed_by_the_other == 0, "another replica pushed a notice whose push was under way"
    assert desk.sender.most_in_flight[HOOK] == 1
    assert len(desk.sender.sent) == 1


async def test_a_redelivery_of_a_notice_waiting_out_its_backoff_is_due_at_once(desk: Desk) -> None:
    """Only a push under way keeps the row: a notice whose last push failed, waiting for its retry, is pushed
    as soon as a clerk asks (a receiver mended)."""
    await subscribe(desk)
    desk.sender.statuses[HOOK] = 500
    await desk.inbox.store(notice(1), now=START)
    assert await desk.worker.deliver_due() == 1  # failed: its retry a second or so later
    assert await desk.worker.deliver_due() == 0  # not due yet
    desk.sender.statuses[HOOK] = 204
    stored = await desk.inbox.get(notice(1).notice_id)
    assert stored is not None
    assert await desk.store.redeliver(stored, now=desk.clock.now())
    assert await desk.worker.deliver_due() == 1
    assert len(desk.sender.sent) == 2


async def failed_but_its_last(desk: Desk, n: int, *, attempts: int = POLICY.max_attempts - 1) -> None:
    """Notice `n` stored and `attempts` of its round failed: its next attempt due (the round's last, by default)."""
    await subscribe(desk)
    desk.sender.statuses[HOOK] = 503
    await desk.inbox.store(notice(n), now=START)
    for _ in range(attempts):
        assert await desk.worker.deliver_due() == 1
        desk.clock.advance(POLICY.cap_s)


async def next_push(desk: Desk, n: int, *, answer: int, redelivered: bool) -> None:
    """Notice `n`'s next push, answered `answer`; with `redelivered`, a clerk asks for a new round while it is under
    way (its request in flight, the row leased)."""
    desk.sender.statuses[HOOK] = answer
    desk.sender.held = answered = asyncio.Event()
    sent = len(desk.sender.sent)
    pushing = asyncio.create_task(desk.worker.deliver_due())
    while len(desk.sender.sent) == sent:  # noqa: ASYNC110 - polling the fake
        await asyncio.sleep(0.01)
    if redelivered:
        stored = await desk.inbox.get(notice(n).notice_id)
        assert stored is not None
        assert await desk.store.redeliver(stored, now=desk.clock.now())
        assert desk.sender.in_flight[HOOK] == 1  # the redelivery came while the push was under way
    answered.set()
    assert await pushing == 1
    desk.sender.held = None


async def schedule_of(desk: Desk, n: int) -> tuple[str, int, datetime | None, list[int], str]:
    """The notice's push state, its round's count, when it is due, its attempts' numbers, and its status."""
    delivery, attempts = await desk.store.history(notice(n).notice_id)
    stored = await desk.inbox.get(notice(n).notice_id)
    assert delivery is not None
    assert stored is not None
    due = delivery.next_attempt_at
    return delivery.state, delivery.round_attempts, due, [a.number for a in attempts], stored.status


@pytest.mark.parametrize(
    ("answer", "redelivered", "state", "status"),
    [
        (503, True, "pending", "issued"),  # the new round asked for: its first attempt due at once
        (204, True, "delivered", "delivered"),  # delivered is delivered, whatever was asked meanwhile
        (503, False, "failed", "failed"),  # no new round asked for: the round is over
    ],
)
async def test_the_last_push_of_a_round_fails_the_notice_only_if_no_new_round_began_during_it(
    desk: Desk, answer: int, redelivered: bool, state: str, status: str
) -> None:
    """A redelivery during the round's last push reset the round's count, but the push's failure was recorded as the
    old round's last: the notice was marked failed though the clerk had asked for a new round, and the clerk had to
    ask again."""
    await failed_but_its_last(desk, 1)
    await next_push(desk, 1, answer=answer, redelivered=redelivered)

    now = desk.clock.now()
    ended, count, due, numbers, shown = await schedule_of(desk, 1)
    assert (ended, shown, numbers) == (state, status, [1, 2, 3])
    if state == "pending":
        assert (count, due) == (0, now)  # the new round's, untouched: the failed push was the old round's
        assert await desk.store.failed(prefix="440111", limit=10) == []
    if state == "delivered":
        assert await outbox_types(desk) == ["NoticeDelivered"]
    assert await desk.worker.deliver_due() == (1 if state == "pending" else 0)


async def test_a_new_round_begun_during_a_push_has_all_its_attempts_before_it_fails(desk: Desk) -> None:
    """The push under way wrote its round's count over the redelivery's reset: begun during the round's second
    push, the new round failed after one attempt of its own."""
    await failed_but_its_last(desk, 2, attempts=1)
    await next_push(desk, 2, answer=503, redelivered=True)
    assert (await schedule_of(desk, 2))[:3] == ("pending", 0, desk.clock.now())

    for _ in range(POLICY.max_attempts):  # the new round's three attempts: the first at once, then the backoff's
        assert await desk.worker.deliver_due() == 1
        desk.clock.advance(POLICY.cap_s)
    assert await schedule_of(desk, 2) == ("failed", 3, None, [1, 2, 3, 4, 5], "failed")


async def test_a_stopped_receiver_is_logged_once_a_minute_with_its_reason_not_at_every_attempt(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receiver stopped under `make run` filled the terminal: a line per attempt and per batch, 390 in 3 min."""
    await subscribe(desk)
    desk.sender.statuses[HOOK] = 503
    failures = 0
    with logged_by(monkeypatch, push_attempts) as logs:
        for n in range(500, 535):  # 140 s of notices coming in while the receiver is down, each retried
            await desk.inbox.store(notice(n), now=desk.clock.now())
            failures += await desk.worker.deliver_due()
            desk.clock.advance(4.0)
        desk.sender.statuses[HOOK] = 204
        await desk.inbox.store(notice(535), now=desk.clock.now())
        assert await desk.worker.deliver_due() > 0

    said = [line for line in logs if line["event"] != "push failed for good"]  # per receiver: test_push_failed_for_good
    assert failures > 60
    assert [line["event"] for line in said] == [
        "push failing",
        "push still failing",
        "push still failing",
        "pushes recorded",
        "push recovered",
    ]
    first, still = said[0], said[1]
    assert (first["receiver"], first["status_code"], first["failed"]) == ("440111008", 503, None)
    assert still["status_code"] == 503  # the reason stays in view
    recovered = said[4]
    assert 1 + said[1]["failed"] + said[2]["failed"] + recovered["failed"] == failures  # every one counted once
    assert recovered["failing_since"] == first["failing_since"]
    # each notice whose round ended failed is in the failed list, and counted once in a line a minute, not a line each
    failed = await desk.store.failed(prefix="440111", limit=500)
    told = [line for line in logs if line["event"] == "push failed for good"]
    assert sum(line["failed_for_good"] for line in told) == len(failed) > len(told)
    assert {n.notice_id for _, n in failed} >= {i for line in told for i in line["notice_ids"]}
