"""Exchange partners as the partners file has them: a key mistyped there, the `[default]` catch-all.

Baiyun's deployment (440111) on PostgreSQL, with a fake sender standing for partners and webhooks, a fake clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select
from structlog.testing import capture_logs

from services.notification.adapters.deliveries import DeliveryStore
from services.notification.adapters.exchange_store import ExchangeStore, answer_message_id, owe_answer
from services.notification.adapters.inbox import Answer, Inbox
from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.tables import OutboxRow
from services.notification.bootstrap import MIGRATIONS
from services.notification.domain import exchange_crypto as crypto
from services.notification.domain.exchange_crypto import new_key_pairs
from services.notification.domain.exchange_messages import (
    AnswerPart,
    ExchangeMessage,
    NoticePart,
    SealedAnswer,
    SealedNotice,
    SealedPerson,
    sealed_text,
)
from services.notification.service_layer import exchange_door
from services.notification.service_layer.delivery import DeliveryWorker
from services.notification.service_layer.exchange_door import ExchangeDoor
from services.notification.service_layer.exchange_outbound import OutboundExchange, OwnKeys
from shared.db import build_engine, run_migrations, session_factory
from shared.directory import load_directory
from shared.events import FeedbackResult, NoticeIssued, NoticeKind, Route
from shared.exchange.partners import FtpDrop as PlatformEntry
from shared.exchange.partners import Partner, PartnerKeys, PartnerTable, Transport
from shared.http.problems import ProblemError
from shared.topics import NOTICES_ANSWERED
from tests.support.exchange_worker import LIMITS, exchange_worker
from tests.support.infra import TEST_KEYRING, create_database, drop_database, unique_name
from tests.support.notices import partner_notice
from tests.support.notification_fakes import FakeClock, FakeWebhookSender
from tests.support.records import TONGDE

START = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
TIANHE_URL = "http://tianhe.example"
OURS, THEIRS = new_key_pairs(), new_key_pairs()
FORWARD_ID = "00000000-0000-4000-8000-000000000001"
LOCAL_ID = "00000000-0000-4000-8000-000000000003"
LEASE_S = 60


def tianhe(*, seal_key: str = THEIRS["seal_key"]) -> Partner:
    return Partner(
        "tianhe", Transport.HTTPS, url=TIANHE_URL, keys=PartnerKeys(verify_key=THEIRS["verify_key"], seal_key=seal_key)
    )


@dataclass
class Baiyun:
    table: list[PartnerTable]
    worker: DeliveryWorker
    deliveries: DeliveryStore
    store: ExchangeStore
    inbox: Inbox
    door: ExchangeDoor
    sender: FakeWebhookSender
    clock: FakeClock
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture
async def baiyun() -> AsyncIterator[Baiyun]:
    name = unique_name("partners_")
    engine = build_engine(await create_database(name))
    await run_migrations(engine, MIGRATIONS)
    sessions, sealed = session_factory(engine), SealedNotices(TEST_KEYRING)
    events = StatusEvents(b"test-person-key-secret", sealed)
    inbox = Inbox(sessions, events, sealed, served_districts=["440111"], answers_owed=owe_answer)
    table, clock, sender = [PartnerTable(by_prefix={})], FakeClock(START), FakeWebhookSender()
    store = ExchangeStore(sessions, inbox)
    keys = OwnKeys(OURS["signing_key"], OURS["sealing_key"])
    outbound = OutboundExchange(
        partners=lambda: table[0], store=store, keys=keys, served_districts=["440111"], clock=clock, sealed=sealed
    )
    deliveries = DeliveryStore(sessions, events)
    limits = replace(LIMITS, lease_s=LEASE_S)
    worker = exchange_worker(
        deliveries, sessions, sender=sender, clock=clock, sealed=sealed, exchange=outbound, limits=limits
    )
    door = ExchangeDoor(
        partners=lambda: table[0],
        store=store,
        inbox=inbox,
        keys=keys,
        served_districts=["440111"],
        clock=clock,
        directory=load_directory(),
        on_scheduled=lambda: None,
    )
    try:
        yield Baiyun(table, worker, deliveries, store, inbox, door, sender, clock, sessions)
    finally:
        await engine.dispose()
        await drop_database(name)


def _notice(notice_id: str, recipient: str, kind: str, route: Route) -> NoticeIssued:
    return partner_notice(notice_id, recipient, kind, issued_at=START, route=route)


async def test_a_partner_whose_seal_key_is_not_a_key_fails_the_message_instead_of_retrying_it_for_ever(
    baiyun: Baiyun,
) -> None:
    """A typo in the partners file's seal_key (not base64, or not 32 bytes) made every attempt raise at sealing:
    the push was never recorded, its lease made it due again, for ever, never `failed`, never in the bureau's
    failed list. The partner is unconfigured instead, and the message fails at once, saying why."""
    baiyun.table[0] = PartnerTable(by_prefix={"440106": tianhe(seal_key="this-is-not-a-key")})
    baiyun.sender.statuses = {f"{TIANHE_URL}/v1/exchange/notices": 200}
    await baiyun.inbox.store(_notice(FORWARD_ID, "440106", "forward", Route.INTER_DISTRICT), now=START)

    for _ in range(3):  # three leases' worth of claims
        await baiyun.worker.deliver_due()
        baiyun.clock.advance(LEASE_S + 1)

    delivery, attempts = await baiyun.deliveries.history(FORWARD_ID)
    assert delivery is not None
    assert delivery.state == "failed", f"still {delivery.state!r} after {len(attempts)} recorded attempts"
    assert delivery.last_error is not None
    assert "seal_key is not a public key" in delivery.last_error
    assert "this-is-not-a-key" not in delivery.last_error


async def test_the_default_partner_cannot_answer_a_notice_to_one_of_our_own_streets(baiyun: Baiyun) -> None:
    """The partner that carries our notice's code may answer it; for a code of our own served district that was
    the partners file's `[default]` (our own prefix has no entry), which could answer a local transfer to
    440111008, a notice never sent to any partner."""
    national = tianhe()
    baiyun.table[0] = PartnerTable(by_prefix={}, default=national)
    local = _notice(LOCAL_ID, "440111008", "transfer", Route.CROSS_STREET)
    await baiyun.inbox.store(local, now=START)

    part = AnswerPart(
        notice_id=LOCAL_ID,
        record_id=local.record_id,
        result=FeedbackResult.NOT_FOUND,
        answered_by="440106001",
        answered_at=START + timedelta(minutes=1),
    )
    sealed = crypto.seal(sealed_text(SealedAnswer()), OURS["seal_key"])
    message = ExchangeMessage(message_id="answer-1", type="answer", sender="440106", answer=part, sealed=sealed)

    with pytest.raises(ProblemError) as refused:
        await baiyun.door.receive_answer(national, message)
    assert refused.value.status == 404
    stored = await baiyun.inbox.get(LOCAL_ID)
    assert stored is not None
    assert stored.answered_at is None


async def test_a_partner_at_an_address_the_destination_rule_refuses_fails_at_once_naming_the_rule(
    baiyun: Baiyun,
) -> None:
    """A partner on an intranet address not in NOTIFICATION_WEBHOOK_ALLOW is refused before any request; no retry
    would pass, so the message fails at once with the reason, as a webhook's does, not after a round of backoff."""
    baiyun.table[0] = PartnerTable(by_prefix={"440106": tianhe()})
    url = f"{TIANHE_URL}/v1/exchange/notices"
    baiyun.sender.refusals = {url: "10.3.0.7 is a private address; NOTIFICATION_WEBHOOK_ALLOW may name it"}
    await baiyun.inbox.store(_notice(FORWARD_ID, "440106", "forward", Route.INTER_DISTRICT), now=START)

    await baiyun.worker.deliver_due()

    delivery, attempts = await baiyun.deliveries.history(FORWARD_ID)
    assert delivery is not None
    assert (delivery.state, len(attempts)) == ("failed", 1)
    assert delivery.last_error == "refused: 10.3.0.7 is a private address; NOTIFICATION_WEBHOOK_ALLOW may name it"
    assert baiyun.sender.sent == []


@pytest.mark.parametrize(("street", "taken"), [("440106999", False), (TONGDE, True)])
async def test_a_partners_correction_to_a_street_the_directory_lacks_is_refused_at_the_door(
    baiyun: Baiyun, street: str, taken: bool
) -> None:
    """As a street's own answer: taken, routing would dead-letter it and the partner would never know."""
    national = tianhe()
    baiyun.table[0] = PartnerTable(by_prefix={"440106": national})
    forward = _notice(FORWARD_ID, "440106001", "forward", Route.INTER_DISTRICT)
    await baiyun.inbox.store(forward, now=START)
    part = AnswerPart(
        notice_id=FORWARD_ID,
        record_id=forward.record_id,
        result=FeedbackResult.CORRECTED,
        answered_by="440106001",
        answered_at=START + timedelta(minutes=1),
    )
    sealed = crypto.seal(sealed_text(SealedAnswer(corrections={"residence_street": street})), OURS["seal_key"])
    message = ExchangeMessage(message_id="answer-2", type="answer", sender="440106", answer=part, sealed=sealed)

    if taken:
        assert (await baiyun.door.receive_answer(national, message)).duplicate is False
        return
    with pytest.raises(ProblemError) as refused:
        await baiyun.door.receive_answer(national, message)
    assert refused.value.status == 422
    assert "corrections.residence_street is not a current street code" in str(refused.value.detail)
    stored = await baiyun.inbox.get(FORWARD_ID)
    assert stored is not None
    assert stored.answered_at is None


def _notice_from_tianhe(message_id: str, notice: NoticeIssued) -> ExchangeMessage:
    """A partner's notice message carrying `notice`'s id and record, sealed to us."""
    part = NoticePart(
        notice_id=notice.notice_id,
        record_id=notice.record_id,
        recipient_code=notice.recipient_code,
        route=Route.INTER_DISTRICT,
        kind=NoticeKind.TRANSFER,
        reason="please verify",
        issued_at=START,
    )
    person = SealedPerson(**notice.person.model_dump())
    sealed = crypto.seal(sealed_text(SealedNotice(person=person)), OURS["seal_key"])
    return ExchangeMessage(message_id=message_id, type="notice", sender="440106", notice=part, sealed=sealed)


async def test_a_partners_notice_with_the_id_of_one_of_ours_is_refused_and_ours_is_answered_to_routing(
    baiyun: Baiyun,
) -> None:
    """Routing's notice ids follow from what travels in clear (record, version, recipient, kind). A partner's notice
    under one of ours was stored as received from that partner: the street's answer to our own notice then went
    to the partner, sealed with its corrections, and routing never heard of it."""
    national = tianhe()
    baiyun.table[0] = PartnerTable(by_prefix={"440106": national})
    ours = _notice(LOCAL_ID, "440111008", "transfer", Route.CROSS_STREET)
    await baiyun.inbox.store(ours, now=START)

    with pytest.raises(ProblemError) as refused:
        await baiyun.door.receive_notice(national, _notice_from_tianhe("tianhe-1", ours))
    assert refused.value.status == 409

    await baiyun.inbox.answer(LOCAL_ID, Answer(FeedbackResult.CONFIRMED, {}, None, "", "440111008"), now=START)
    assert await baiyun.store.answer_owed(answer_message_id(LOCAL_ID)) is None  # nothing owed to the partner
    async with baiyun.sessions() as session:
        topics = (await session.execute(select(col(OutboxRow.topic)))).scalars().all()
    assert [t for t in topics if t.endswith(NOTICES_ANSWERED)] != []  # routing is told


async def test_the_same_partners_notice_under_a_new_message_id_is_a_duplicate(baiyun: Baiyun) -> None:
    """A partner that sends its notice again under another message id: taken once, the second a duplicate, not a
    unique-constraint error (a 500 over https, the FTP poller's end)."""
    national = tianhe()
    baiyun.table[0] = PartnerTable(by_prefix={"440106": national})
    theirs = _notice(FORWARD_ID, "440111008", "transfer", Route.INTER_DISTRICT)

    first = await baiyun.door.receive_notice(national, _notice_from_tianhe("tianhe-1", theirs))
    again = await baiyun.door.receive_notice(national, _notice_from_tianhe("tianhe-2", theirs))

    assert (first.duplicate, again.duplicate) == (False, True)
    other = Partner("yuexiu", Transport.HTTPS, url="http://yuexiu.example", keys=tianhe().keys)
    with pytest.raises(ProblemError) as refused:  # the same id from another partner is not its notice
        await baiyun.door.receive_notice(other, _notice_from_tianhe("yuexiu-1", theirs))
    assert refused.value.status == 409


async def test_an_ftp_partner_whose_signing_secret_is_not_set_fails_the_message_at_once(
    baiyun: Baiyun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over https a missing signing key fails the message at once, naming it; over FTP the batch is signed when it
    goes up, so the same gap counted as a passing upload failure and was retried with backoff for a whole round."""
    monkeypatch.setenv("TIANHE_FTP_USER", "440111")
    monkeypatch.setenv("TIANHE_FTP_PASSWORD", "secret")
    monkeypatch.delenv("TIANHE_SHARED_SECRET", raising=False)
    platform = PlatformEntry(
        "127.0.0.1", 2121, {"440106": "/440106"}, user_env="TIANHE_FTP_USER", password_env="TIANHE_FTP_PASSWORD"
    )
    keys = PartnerKeys(secret_env="TIANHE_SHARED_SECRET", seal_key=THEIRS["seal_key"])
    baiyun.table[0] = PartnerTable(by_prefix={"440106": Partner("tianhe", Transport.FTP, ftp=platform, keys=keys)})
    await baiyun.inbox.store(_notice(FORWARD_ID, "440106", "forward", Route.INTER_DISTRICT), now=START)

    await baiyun.worker.deliver_due()

    delivery, attempts = await baiyun.deliveries.history(FORWARD_ID)
    assert delivery is not None
    assert (delivery.state, len(attempts)) == ("failed", 1)
    assert delivery.last_error == "the variable TIANHE_SHARED_SECRET holding the shared secret is not set"


@pytest.mark.parametrize(
    ("claimed", "counted"),
    [
        (START + timedelta(hours=1), START + timedelta(hours=1)),  # between issue and arrival: the partner's own
        (START + timedelta(days=3), START + timedelta(hours=2)),  # a clock days ahead: when it reached us
        (START - timedelta(days=1), START),  # before our notice was issued: when it was issued
    ],
)
async def test_a_partners_answer_is_counted_inside_its_notices_life_whatever_its_clock_says(
    baiyun: Baiyun, claimed: datetime, counted: datetime
) -> None:
    """A partner dates its answer by its own clock: one set days ahead had its answer counted after the Friday
    cut-off (the notice "unanswered" in a week it was answered), one set back had it answered before it was
    asked. The time counted is the partner's inside [issued, received], else the nearer bound."""
    national = tianhe()
    baiyun.table[0] = PartnerTable(by_prefix={"440106": national})
    forward = _notice(FORWARD_ID, "440106001", "forward", Route.INTER_DISTRICT)
    await baiyun.inbox.store(forward, now=START)
    baiyun.clock.advance(2 * 3600)  # the answer reaches us two hours after the notice was issued
    part = AnswerPart(
        notice_id=FORWARD_ID,
        record_id=forward.record_id,
        result=FeedbackResult.CONFIRMED,
        answered_by="440106001",
        answered_at=claimed,
    )
    sealed = crypto.seal(sealed_text(SealedAnswer()), OURS["seal_key"])
    message = ExchangeMessage(message_id="answer-3", type="answer", sender="440106", answer=part, sealed=sealed)

    assert (await baiyun.door.receive_answer(national, message)).duplicate is False

    stored = await baiyun.inbox.get(FORWARD_ID)
    assert stored is not None
    assert stored.answered_at is not None
    assert stored.answered_at.astimezone(UTC) == counted
    async with baiyun.sessions() as session:
        rows = (await session.execute(select(OutboxRow))).scalars().all()
    told = [row.envelope["payload"] for row in rows if row.topic.endswith(NOTICES_ANSWERED)]
    assert [datetime.fromisoformat(payload["answered_at"]) for payload in told] == [counted]  # routing, reporting


async def test_a_partners_clock_off_is_logged_once_for_an_answer_not_again_for_its_duplicates(
    baiyun: Baiyun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line was written before the store said whether the answer was new: each copy of it (the partner's
    retry over https, a batch taken again while its acknowledgement waits: every 5 s to 5 min) said it again,
    and so did an answer then refused. Said once, for the answer counted."""
    national = tianhe()
    baiyun.table[0] = PartnerTable(by_prefix={"440106": national})
    forward = _notice(FORWARD_ID, "440106001", "forward", Route.INTER_DISTRICT)
    await baiyun.inbox.store(forward, now=START)
    baiyun.clock.advance(2 * 3600)
    sealed = crypto.seal(sealed_text(SealedAnswer()), OURS["seal_key"])

    def answer(message_id: str, result: FeedbackResult) -> ExchangeMessage:
        part = AnswerPart(
            notice_id=FORWARD_ID,
            record_id=forward.record_id,
            result=result,
            answered_by="440106001",
            answered_at=START + timedelta(days=3),  # the partner's clock three days ahead
        )
        return ExchangeMessage(message_id=message_id, type="answer", sender="440106", answer=part, sealed=sealed)

    with capture_logs() as logs:
        monkeypatch.setattr(exchange_door, "log", structlog.get_logger(exchange_door.__name__))
        accepted = [await baiyun.door.receive_answer(national, answer("answer-4", FeedbackResult.CONFIRMED))]
        accepted += [await baiyun.door.receive_answer(national, answer("answer-4", FeedbackResult.CONFIRMED))]
        with pytest.raises(ProblemError) as changed:  # another answer to it: refused, counted nowhere
            await baiyun.door.receive_answer(national, answer("answer-5", FeedbackResult.NOT_FOUND))

    assert [a.duplicate for a in accepted] == [False, True]
    assert changed.value.status == 409
    said = [line for line in logs if line["event"].startswith("partner's answer dated outside")]
    assert [(line["notice_id"], line["off_by_s"]) for line in said] == [(FORWARD_ID, 3 * 86400 - 2 * 3600)]
