"""The bureau redelivers to a partner on real PostgreSQL: failed notices and the answers we owe, and who may ask.

Baiyun's deployment (440111) owes Tianhe (440106) a forward and an answer to
Tianhe's own notice; with no partner configured both fail at once. Once the
partners file names a ready Tianhe, the bureau's redelivery sends both to its
door. The fake sender stands for Tianhe; the fake clock keeps time still.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from services.notification.adapters.deliveries import DeliveryStore
from services.notification.adapters.exchange_store import ExchangeStore, answer_message_id, owe_answer
from services.notification.adapters.inbox import Answer, Inbox
from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.tables import ExchangeReceived
from services.notification.bootstrap import MIGRATIONS
from services.notification.domain.exchange_crypto import new_key_pairs
from services.notification.service_layer.delivery import DeliveryWorker
from services.notification.service_layer.exchange_outbound import OutboundExchange, OwnKeys
from services.notification.service_layer.exchange_redelivery import ExchangeRedelivery
from shared.auth import Principal, Role, parse_scope
from shared.db import build_engine, run_migrations, session_factory
from shared.events import FeedbackResult, NoticeIssued
from shared.exchange.partners import Partner, PartnerKeys, PartnerTable, Transport
from shared.http.problems import ProblemError
from tests.support.exchange_worker import exchange_worker
from tests.support.infra import TEST_KEYRING, create_database, drop_database, unique_name
from tests.support.notices import partner_notice
from tests.support.notification_fakes import FakeClock, FakeWebhookSender

START = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
TIANHE_URL = "http://tianhe.example"
OURS, THEIRS = new_key_pairs(), new_key_pairs()
FORWARD_ID, THEIR_NOTICE_ID = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
READY = Partner(
    "tianhe",
    Transport.HTTPS,
    url=TIANHE_URL,
    keys=PartnerKeys(verify_key=THEIRS["verify_key"], seal_key=THEIRS["seal_key"]),
)


@dataclass
class Baiyun:
    table: list[PartnerTable]  # the partners file as it stands: replace [0] to "edit" it
    worker: DeliveryWorker
    store: ExchangeStore
    redelivery: ExchangeRedelivery
    sender: FakeWebhookSender
    inbox: Inbox
    clock: FakeClock
    deliveries: DeliveryStore


def principal(scope: str, role: Role) -> Principal:
    return Principal(key_id="k", scope=parse_scope(scope), role=role)


BUREAU, ADMIN = principal("district:440111", Role.BUREAU), principal("admin", Role.ADMIN)


@pytest.fixture
async def baiyun() -> AsyncIterator[Baiyun]:
    name = unique_name("xredeliver_")
    engine = build_engine(await create_database(name))
    await run_migrations(engine, MIGRATIONS)
    sessions, sealed = session_factory(engine), SealedNotices(TEST_KEYRING)
    events = StatusEvents(b"test-person-key-secret", sealed)
    inbox = Inbox(sessions, events, sealed, served_districts=["440111"], answers_owed=owe_answer)
    table, clock, sender = [PartnerTable(by_prefix={})], FakeClock(START), FakeWebhookSender()
    store = ExchangeStore(sessions, inbox)
    outbound = OutboundExchange(
        partners=lambda: table[0],
        store=store,
        keys=OwnKeys(OURS["signing_key"], OURS["sealing_key"]),
        served_districts=["440111"],
        clock=clock,
        sealed=sealed,
    )
    deliveries = DeliveryStore(sessions, events)
    worker = exchange_worker(deliveries, sessions, sender=sender, clock=clock, sealed=sealed, exchange=outbound)
    redelivery = ExchangeRedelivery(
        partners=lambda: table[0], store=store, served_districts=["440111"], clock=clock, wake=lambda: None
    )
    try:
        yield Baiyun(table, worker, store, redelivery, sender, inbox, clock, deliveries)
    finally:
        await engine.dispose()
        await drop_database(name)


def _notice(notice_id: str, recipient: str, kind: str, sequence: int) -> NoticeIssued:
    return partner_notice(notice_id, recipient, kind, issued_at=START, person=sequence)


async def _owe_tianhe_two_messages(baiyun: Baiyun) -> None:
    """Our forward to Tianhe's bureau, and our answer to a notice Tianhe sent us."""
    await baiyun.inbox.store(_notice(FORWARD_ID, "440106", "forward", 1), now=START)
    theirs = _notice(THEIR_NOTICE_ID, "440111008", "change", 2)
    received = ExchangeReceived(
        message_id="their-message-1",
        kind="notice",
        partner="tianhe",
        sender_code="440106",
        notice_id="their-notice-1",
        record_id=theirs.record_id,
        local_notice_id=theirs.notice_id,
        received_at=START,
    )
    await baiyun.store.receive_notice(received, theirs, now=START)
    # answered by an admin on the street's behalf: the partner hears it from the street
    await baiyun.inbox.answer(THEIR_NOTICE_ID, Answer(FeedbackResult.CONFIRMED, {}, None, "", "admin"), now=START)


async def test_failed_messages_to_a_partner_are_sent_again_once_it_is_configured(baiyun: Baiyun) -> None:
    await _owe_tianhe_two_messages(baiyun)
    assert await baiyun.worker.deliver_due() == 2  # no partner carries 440106: both refused at once
    assert await baiyun.store.failed_destinations() == ["440106"]
    assert baiyun.sender.sent == []

    with pytest.raises(ProblemError) as unknown:
        await baiyun.redelivery.partner(BUREAU, "tianhe")
    assert unknown.value.status == 404
    baiyun.table[0] = PartnerTable(by_prefix={"440106": Partner("tianhe", Transport.HTTPS, url=TIANHE_URL)})
    with pytest.raises(ProblemError) as not_ready:
        await baiyun.redelivery.partner(BUREAU, "tianhe")
    assert not_ready.value.status == 409  # no keys yet: a new round would only fail again

    baiyun.table[0] = PartnerTable(by_prefix={"440106": READY})
    baiyun.sender.statuses = {f"{TIANHE_URL}/v1/exchange/notices": 200, f"{TIANHE_URL}/v1/exchange/answers": 200}
    redelivered = await baiyun.redelivery.partner(BUREAU, "tianhe")
    assert redelivered.view("tianhe") == {"partner": "tianhe", "redelivered": 2, "more": False}
    assert await baiyun.worker.deliver_due() == 2
    assert sorted(s.url for s in baiyun.sender.sent) == [
        f"{TIANHE_URL}/v1/exchange/answers",
        f"{TIANHE_URL}/v1/exchange/notices",
    ]
    [answer] = [json.loads(s.body) for s in baiyun.sender.sent if s.url.endswith("/answers")]
    assert answer["answer"]["answered_by"] == "440111008"
    assert answer["answer"]["notice_id"] == "their-notice-1"
    assert await baiyun.store.failed_destinations() == []
    assert (await baiyun.redelivery.partner(ADMIN, "tianhe")).message_ids == []  # nothing failed any more


async def test_one_message_is_sent_again_by_its_id(baiyun: Baiyun) -> None:
    await _owe_tianhe_two_messages(baiyun)
    await baiyun.worker.deliver_due()
    baiyun.table[0] = PartnerTable(by_prefix={"440106": READY})
    baiyun.sender.statuses = {f"{TIANHE_URL}/v1/exchange/notices": 200}

    await baiyun.redelivery.message(ADMIN, FORWARD_ID)
    assert await baiyun.worker.deliver_due() == 1
    assert [s.url for s in baiyun.sender.sent] == [f"{TIANHE_URL}/v1/exchange/notices"]
    with pytest.raises(ProblemError) as absent:
        await baiyun.redelivery.message(ADMIN, "00000000-0000-4000-8000-999999999999")
    assert absent.value.status == 404


@pytest.mark.parametrize(
    ("scope", "role"),
    [
        ("street:440111005", Role.OFFICE),
        ("street:440111005", Role.SUBMITTER),
        ("district:440111", Role.SUBMITTER),
        ("district:440106", Role.BUREAU),  # a bureau, but of a district this deployment does not serve
    ],
)
async def test_only_a_bureau_of_a_served_district_or_admin_may_redeliver(
    baiyun: Baiyun, scope: str, role: Role
) -> None:
    baiyun.table[0] = PartnerTable(by_prefix={"440106": READY})
    caller = principal(scope, role)
    with pytest.raises(ProblemError) as for_partner:
        await baiyun.redelivery.partner(caller, "tianhe")
    with pytest.raises(ProblemError) as for_message:
        await baiyun.redelivery.message(caller, FORWARD_ID)
    assert (for_partner.value.status, for_message.value.status) == (403, 403)


async def test_a_message_redelivered_during_its_rounds_last_push_is_due_again_when_that_push_fails(
    baiyun: Baiyun,
) -> None:
    """As for a webhook push (test_delivery_worker.py): the failure of the round's last push was recorded as the old
    round's, and failed the message though the bureau had asked for a new round during it. The answer we owe has no
    inbox notice of its own: the round is the schedule's alone."""
    baiyun.table[0] = PartnerTable(by_prefix={"440106": READY})
    baiyun.sender.statuses = {f"{TIANHE_URL}/v1/exchange/notices": 503, f"{TIANHE_URL}/v1/exchange/answers": 503}
    await _owe_tianhe_two_messages(baiyun)
    for _ in range(2):
        assert await baiyun.worker.deliver_due() == 2
        baiyun.clock.advance(4.0)

    answer_id = answer_message_id(THEIR_NOTICE_ID)
    message_of = {f"{TIANHE_URL}/v1/exchange/notices": FORWARD_ID, f"{TIANHE_URL}/v1/exchange/answers": answer_id}
    baiyun.sender.held = asyncio.Event()  # each push waits until the bureau has asked (see the loop)
    pushing = asyncio.create_task(baiyun.worker.deliver_due())  # the round's last push of each, one at a time ...
    for sent in (5, 6):
        while len(baiyun.sender.sent) < sent:  # noqa: ASYNC110 - polling the fake
            await asyncio.sleep(0.01)
        under_way = baiyun.sender.sent[-1].url
        await baiyun.redelivery.message(ADMIN, message_of[under_way])  # ... when the bureau asks for it again
        assert baiyun.sender.in_flight[under_way] == 1
        answered, baiyun.sender.held = baiyun.sender.held, asyncio.Event()  # the next push waits for its own
        answered.set()
    assert await pushing == 2
    baiyun.sender.held = None

    now = baiyun.clock.now()
    for message_id in (answer_id, FORWARD_ID):
        delivery, attempts = await baiyun.deliveries.history(message_id)
        assert delivery is not None
        assert (delivery.state, delivery.round_attempts, delivery.next_attempt_at) == ("pending", 0, now)
        assert [a.number for a in attempts] == [1, 2, 3]
    assert await baiyun.store.failed_destinations() == []
    forward = await baiyun.inbox.get(FORWARD_ID)
    assert forward is not None
    assert forward.status == "issued"
    assert await baiyun.worker.deliver_due() == 2  # the new round's first pushes, due at once
