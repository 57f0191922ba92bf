"""What an https partner's answer must say before a message counts as delivered: the real sender, a real server.

Baiyun's deployment (440111) on PostgreSQL sends its forward to Tianhe over http on 127.0.0.1 (allowed here
as NOTIFICATION_WEBHOOK_ALLOW=loopback,http would). Behind one path a door answers as PopFlow's does; behind
another a web server answers every POST with its 200 page, as one does when a partners file's `url` misses the
door (a proxy's catch-all, a single-page site's index).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from ipaddress import ip_address

import pytest

from services.notification.adapters.deliveries import DeliveryStore
from services.notification.adapters.destinations import DestinationGuard
from services.notification.adapters.exchange_store import ExchangeStore, owe_answer
from services.notification.adapters.inbox import Inbox
from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.sender import PinnedWebhookSender
from services.notification.bootstrap import MIGRATIONS
from services.notification.domain.destinations import Address, DestinationPolicy
from services.notification.domain.exchange_crypto import new_key_pairs
from services.notification.service_layer.exchange_door import Accepted
from services.notification.service_layer.exchange_outbound import OutboundExchange, OwnKeys, door_accepted
from shared.db import build_engine, run_migrations, session_factory
from shared.events import Route
from shared.exchange.partners import Partner, PartnerKeys, PartnerTable, Transport
from tests.support.exchange_worker import exchange_worker
from tests.support.infra import TEST_KEYRING, create_database, drop_database, unique_name
from tests.support.notices import partner_notice
from tests.support.notification_fakes import FakeClock

START = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
OURS, THEIRS = new_key_pairs(), new_key_pairs()
FORWARD_ID = "00000000-0000-4000-8000-000000000001"
ANSWERS = {
    "/door/": (b"application/json", json.dumps({"message_id": FORWARD_ID, "accepted": True, "duplicate": False})),
    "/page/": (b"text/html", "<!doctype html><title>Tianhe</title><p>welcome</p>"),
}


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    length = next(int(line.split(":")[1]) for line in head.lower().splitlines() if line.startswith("content-length"))
    await reader.readexactly(length)
    path = head.split()[1]
    kind, text = next(answer for prefix, answer in ANSWERS.items() if path.startswith(prefix))
    body = text.encode()
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: " + kind + b"\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()
    writer.close()


@pytest.fixture
async def tianhe_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(_answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def _sent_to(url: str) -> tuple[str, list[tuple[int | None, str | None]]]:
    """Baiyun's forward to Tianhe at `url`, pushed once with the real sender: its delivery state and attempts."""
    name = unique_name("partner_answers_")
    engine = build_engine(await create_database(name))

    async def resolve(host: str, port: int) -> list[Address]:
        return [ip_address("127.0.0.1")]

    sender = PinnedWebhookSender(
        timeout_s=5, max_connections=2, guard=DestinationGuard(DestinationPolicy.parse("loopback,http"), resolve)
    )
    try:
        await run_migrations(engine, MIGRATIONS)
        sessions, sealed, clock = session_factory(engine), SealedNotices(TEST_KEYRING), FakeClock(START)
        events = StatusEvents(b"test-person-key-secret", sealed)
        inbox = Inbox(sessions, events, sealed, served_districts=["440111"], answers_owed=owe_answer)
        keys = PartnerKeys(verify_key=THEIRS["verify_key"], seal_key=THEIRS["seal_key"])
        table = PartnerTable(by_prefix={"440106": Partner("tianhe", Transport.HTTPS, url=url, keys=keys)})
        deliveries = DeliveryStore(sessions, events)
        worker = exchange_worker(
            deliveries,
            sessions,
            sender=sender,
            clock=clock,
            sealed=sealed,
            exchange=OutboundExchange(
                partners=lambda: table,
                store=ExchangeStore(sessions, inbox),
                keys=OwnKeys(OURS["signing_key"], OURS["sealing_key"]),
                served_districts=["440111"],
                clock=clock,
                sealed=sealed,
            ),
        )
        forward = partner_notice(FORWARD_ID, "440106", "forward", issued_at=START, route=Route.INTER_DISTRICT)
        await inbox.store(forward, now=START)
        assert await worker.deliver_due() == 1
        delivery, attempts = await deliveries.history(FORWARD_ID)
        assert delivery is not None
        return delivery.state, [(a.status_code, a.error) for a in attempts]
    finally:
        await sender.close()
        await engine.dispose()
        await drop_database(name)


async def test_a_partners_door_that_says_it_took_the_message_delivers_it(tianhe_port: int) -> None:
    state, attempts = await _sent_to(f"http://tianhe.test:{tianhe_port}/door")
    assert (state, attempts) == ("delivered", [(200, None)])


async def test_a_200_page_that_is_not_the_door_does_not_count_as_delivered(tianhe_port: int) -> None:
    """Any 2xx counted: a partners file whose url missed the door (a path too many, a proxy's catch-all) had every
    message marked delivered, acknowledged in the bureau's overview, and never arriving anywhere."""
    state, attempts = await _sent_to(f"http://tianhe.test:{tianhe_port}/page")
    assert state == "pending"  # tried again, as any failed attempt, and `failed` after its round
    assert attempts == [(200, "answered 200, but did not say it took the message")]


def test_what_our_own_door_answers_is_what_the_sender_takes_as_accepted() -> None:
    for duplicate in (False, True):
        assert door_accepted(json.dumps(Accepted(FORWARD_ID, duplicate=duplicate).view()).encode())
    assert not door_accepted(b'{"accepted": false}')
    assert not door_accepted(b"\xff")
