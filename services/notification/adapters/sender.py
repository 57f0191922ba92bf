"""The outbound effect of a push: POST a signed body to a webhook URL.

`WebhookSender` is the interface the delivery worker uses; `HttpxWebhookSender`
is the real one, a hand-written fake lives in tests/support. Neither raises
for a receiver's failure: every outcome is a `SendResult`, so the worker
records it as an attempt. Errors carry the exception's type only (a message
could quote the URL).

Before each push the destination is checked again (adapters/destinations.py)
and the connection is pinned to the checked address: the URL's host is
replaced by that address, while the Host header and the TLS server name
(SNI, and so the certificate check) keep the name. A refused destination
makes no request at all; its result says why and is `refused`, which ends
the round at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import httpx

from services.notification.adapters.destinations import DestinationGuard


@dataclass(frozen=True, slots=True)
class SendResult:
    status_code: int | None  # None when no answer came (timeout, refused, ...)
    latency_ms: float
    error: str | None = None
    refused: bool = False  # our own rule refused the destination: no request was made, none will be


class WebhookSender(Protocol):
    async def send(self, url: str, body: bytes, headers: dict[str, str]) -> SendResult: ...


class HttpxWebhookSender:
    """One pooled client; the timeout bounds the whole request, so a hanging receiver frees its slot."""

    def __init__(self, *, timeout_s: float, max_connections: int, guard: DestinationGuard) -> None:
        self._guard = guard
        self._client = httpx.AsyncClient(
            trust_env=False,  # a proxy from the environment would connect to the name, not the checked address
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,  # a redirect is not a delivery; the receiver must fix its URL
        )

    async def send(self, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        started = time.perf_counter()
        destination = await self._guard.check(url)
        if destination.refusal is not None:
            return SendResult(None, 0.0, f"refused: {destination.refusal}", refused=True)
        if not destination.addresses:
            return SendResult(None, _since(started), "the webhook host does not resolve")
        target = httpx.URL(url)
        pinned = target.copy_with(host=str(destination.addresses[0]))
        headers = {**headers, "host": target.netloc.decode("ascii")}
        extensions = {"sni_hostname": target.raw_host.decode("ascii")} if target.scheme == "https" else {}
        try:
            request = self._client.build_request("POST", pinned, content=body, headers=headers, extensions=extensions)
            response = await self._client.send(request)
        except httpx.TimeoutException as error:
            return SendResult(None, _since(started), f"timeout ({type(error).__name__})")
        except httpx.HTTPError as error:
            return SendResult(None, _since(started), type(error).__name__)
        return SendResult(response.status_code, _since(started), None if response.is_success else "not 2xx")

    async def close(self) -> None:
        await self._client.aclose()


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
