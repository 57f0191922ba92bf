"""The real sender checks the destination again before each push and connects to the address it checked."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from ipaddress import ip_address

import pytest

from services.notification.adapters.destinations import DestinationGuard
from services.notification.adapters.sender import PinnedWebhookSender
from services.notification.domain.destinations import Address, DestinationPolicy


@dataclass
class Listener:
    """A bare HTTP/1.1 endpoint on 127.0.0.1 that records each request head and answers 204."""

    heads: list[str] = field(default_factory=list)
    port: int = 0


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    seen = Listener()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
        except asyncio.IncompleteReadError:  # connected, and closed without a request
            writer.close()
            return
        length = next(
            (int(line.split(":")[1]) for line in head.lower().splitlines() if line.startswith("content-length")), 0
        )
        await reader.readexactly(length)
        seen.heads.append(head)
        writer.write(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    seen.port = server.sockets[0].getsockname()[1]
    try:
        yield seen
    finally:
        server.close()
        await server.wait_closed()


def sender(allow: str, resolves_to: str) -> PinnedWebhookSender:
    async def resolve(host: str, port: int) -> list[Address]:
        return [ip_address(resolves_to)]

    guard = DestinationGuard(DestinationPolicy.parse(allow), resolve)
    return PinnedWebhookSender(timeout_s=5, max_connections=2, guard=guard)


async def test_the_push_goes_to_the_checked_address_with_the_name_as_host(listener: Listener) -> None:
    pushing = sender("loopback,http", "127.0.0.1")
    try:
        result = await pushing.send(
            f"http://hooks.test:{listener.port}/hook", b"{}", {"content-type": "application/json"}
        )
    finally:
        await pushing.close()
    assert (result.status_code, result.refused) == (204, False)
    [head] = listener.heads
    assert head.startswith("POST /hook HTTP/1.1")
    assert f"host: hooks.test:{listener.port}" in head.lower()


async def test_a_name_that_resolves_inside_is_refused_without_a_request(listener: Listener) -> None:
    pushing = sender("http", "127.0.0.1")  # http allowed, loopback not
    try:
        result = await pushing.send(f"http://hooks.test:{listener.port}/hook", b"{}", {})
    finally:
        await pushing.close()
    assert result.refused
    assert result.status_code is None
    assert result.error is not None
    assert "loopback" in result.error
    assert listener.heads == []


async def test_an_answer_without_end_is_read_no_further_than_its_bound() -> None:
    """The whole answer body was read into memory: a receiver (or a partner's door) streaming one without end held
    the push until its timeout, and its bytes in memory, for each push in flight. Only the status counts."""
    sent = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        chunk = b"x" * 8192
        with contextlib.suppress(ConnectionError):
            while sent < 50 << 20:  # 50 MiB, were it all read
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                sent += len(chunk)
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pushing = sender("loopback,http", "127.0.0.1")
    try:
        result = await pushing.send(f"http://hooks.test:{port}/hook", b"{}", {})
    finally:
        await pushing.close()
        server.close()
        await server.wait_closed()
    assert (result.status_code, result.error) == (200, None)
    assert sent < 8 << 20  # the connection was dropped after the bound, not read to the end


@pytest.mark.parametrize("notice_id", ["n-1\r\nx-injected: 1", "n-1\x01", "n-1\x7f"])
async def test_a_request_that_cannot_be_made_is_refused_not_raised(listener: Listener, notice_id: str) -> None:
    """A partner's notice id may hold a control character (the exchange format bounds only its length), and it is
    the webhook-id header of its push. aiohttp refuses such a header with a ValueError, which left the sender: the
    push was logged as "could not be recorded" and tried again at every lease's end, for ever, never counted."""
    pushing = sender("loopback,http", "127.0.0.1")
    try:
        result = await pushing.send(f"http://hooks.test:{listener.port}/hook", b"{}", {"webhook-id": notice_id})
    finally:
        await pushing.close()
    assert result.refused
    assert result.status_code is None
    assert result.error is not None
    assert "header" in result.error
    assert listener.heads == []
