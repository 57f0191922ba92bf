"""The outbound effect of a push: POST a signed body to a webhook URL.

`WebhookSender` is the interface the delivery worker uses; `PinnedWebhookSender`
is the real one, a hand-written fake lives in tests/support. Neither raises
for a receiver's failure: every outcome is a `SendResult`, so the worker
records it as an attempt. Errors carry the exception's type only (a message
could quote the URL).

Before each push the destination is checked again (adapters/destinations.py)
and the connection is pinned to the checked address: the client's resolver
answers only with the addresses that check returned, so the request keeps
the URL's name for the Host header and the TLS server name (SNI, and so the
certificate check) while the socket goes to the checked address. A refused
destination makes no request at all; its result says why and is `refused`,
which ends the round at once. So does a request that cannot be written (a
header HTTP forbids), which no retry would write either.

The client is aiohttp: the profile of a push burst showed httpx (with
httpcore and anyio) spending 1.8 ms of CPU per request where aiohttp spends
0.2 ms (docs/performance.md, "Notification").
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from services.notification.adapters.destinations import DestinationGuard
from services.notification.domain.backoff import is_success
from services.notification.domain.destinations import Address
from shared.recent import keep_newest

UNWRITABLE = "refused: the request cannot be written (a header or the URL holds a character HTTP forbids)"
MAX_ANSWER_BYTES = 64 << 10  # of a receiver's answer body read (only its status counts); beyond, the connection closes
MAX_PINNED = 4096  # hosts whose checked addresses are kept (about one per webhook host), or twice the pushes in flight


@dataclass(frozen=True, slots=True)
class SendResult:
    status_code: int | None  # None when no answer came (timeout, refused, ...)
    latency_ms: float
    error: str | None = None
    refused: bool = False  # our own rule refused the destination, or the request: none was made, none will be

    @property
    def delivered(self) -> bool:
        """A 2xx answer, and (when the caller asked what it said) the answer the receiver's kind gives."""
        return is_success(self.status_code) and self.error is None


Accepts = Callable[[bytes], bool]  # whether a 2xx answer's body says the message was taken


class WebhookSender(Protocol):
    async def send(
        self, url: str, body: bytes, headers: dict[str, str], *, accepts: Accepts | None = None
    ) -> SendResult: ...


class _CheckedAddresses(AbstractResolver):
    """The client's resolver: a host resolves only to the addresses its last check allowed.

    Bounded: every host a push went to stayed for good, and a recipient whose webhook moves from host
    to host grew it for ever. Full, it forgets the host pinned least recently; a push pins its host
    just before connecting and far fewer pushes than the bound are in flight, so none loses its own.
    A host forgotten all the same resolves to nothing: that push fails (and is retried), never unchecked.
    """

    def __init__(self, bound: int = MAX_PINNED) -> None:
        self._checked: OrderedDict[str, list[Address]] = OrderedDict()
        self._bound = bound

    def pin(self, host: str, addresses: list[Address]) -> None:
        keep_newest(self._checked, host, addresses, self._bound)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self._checked.get(host)
        if not addresses:
            raise OSError("no checked address for this host")
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        self._checked.clear()


class PinnedWebhookSender:
    """One pooled client; the timeout bounds the whole request, so a hanging receiver frees its slot."""

    def __init__(self, *, timeout_s: float, max_connections: int, guard: DestinationGuard) -> None:
        self._guard = guard
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_connections = max_connections
        self._resolver = _CheckedAddresses(max(MAX_PINNED, 2 * max_connections))
        self._session: aiohttp.ClientSession | None = None  # made on first use: it needs the running loop

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, resolver=self._resolver, use_dns_cache=False)
            # trust_env off: a proxy from the environment would connect to the name, not the checked address
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                trust_env=False,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),  # a push is stateless: no receiver's cookie goes to another
            )
        return self._session

    async def send(
        self, url: str, body: bytes, headers: dict[str, str], *, accepts: Accepts | None = None
    ) -> SendResult:
        """`accepts`: a 2xx counts only when its body (read up to MAX_ANSWER_BYTES) passes it (an exchange
        partner's door says it took the message; a web server at a wrong URL answers 200 all the same)."""
        started = time.perf_counter()
        destination = await self._guard.check(url)
        if destination.refusal is not None:
            return SendResult(None, 0.0, f"refused: {destination.refusal}", refused=True)
        if not destination.addresses:
            return SendResult(None, _since(started), "the webhook host does not resolve")
        target = URL(url)
        self._resolver.pin(target.raw_host or "", destination.addresses)
        try:
            # no redirects: a redirect is not a delivery; the receiver must fix its URL
            async with self._client().post(target, data=body, headers=headers, allow_redirects=False) as response:
                status = response.status
                answer = await _drained(response, keep=accepts is not None and is_success(status))
        except TimeoutError as error:
            return SendResult(None, _since(started), f"timeout ({type(error).__name__})")
        except (aiohttp.ClientError, OSError) as error:
            return SendResult(None, _since(started), type(error).__name__)
        except ValueError:
            # the request itself cannot be written (a control character in a header, from a partner's notice id):
            # no attempt would make it, so it ends the round as a refused destination does
            return SendResult(None, _since(started), UNWRITABLE, refused=True)
        if not is_success(status):
            return SendResult(status, _since(started), "not 2xx")
        if accepts is not None and (answer is None or not accepts(answer)):
            return SendResult(status, _since(started), f"answered {status}, but did not say it took the message")
        return SendResult(status, _since(started))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        await asyncio.sleep(0)  # let the connector's transports close before the loop ends


async def _drained(response: aiohttp.ClientResponse, *, keep: bool = False) -> bytes | None:
    """The answer's body read to its end, so that its connection serves the next push; the body itself when
    `keep`, else None. A body over MAX_ANSWER_BYTES (a receiver, or a partner's door, sending without end) is not
    read on: its connection is closed instead of held in memory, and None returned."""
    kept, read = bytearray(), 0
    while chunk := await response.content.readany():
        read += len(chunk)
        if read > MAX_ANSWER_BYTES:
            response.close()
            return None
        if keep:
            kept += chunk
    return bytes(kept) if keep else None


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
