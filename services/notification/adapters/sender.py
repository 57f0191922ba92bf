"""The outbound effect of a push: POST a signed body to a webhook URL.

`WebhookSender` is the interface the delivery worker uses; `HttpxWebhookSender`
is the real one, a hand-written fake lives in tests/support. Neither raises
for a receiver's failure: every outcome is a `SendResult`, so the worker
records it as an attempt. Errors carry the exception's type only (a message
could quote the URL).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import httpx


@dataclass(frozen=True, slots=True)
class SendResult:
    status_code: int | None  # None when no answer came (timeout, refused, ...)
    latency_ms: float
    error: str | None = None


class WebhookSender(Protocol):
    async def send(self, url: str, body: bytes, headers: dict[str, str]) -> SendResult: ...


class HttpxWebhookSender:
    """One pooled client; the timeout bounds the whole request, so a hanging receiver frees its slot."""

    def __init__(self, *, timeout_s: float, max_connections: int) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,  # a redirect is not a delivery; the receiver must fix its URL
        )

    async def send(self, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        started = time.perf_counter()
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as error:
            return SendResult(None, _since(started), f"timeout ({type(error).__name__})")
        except httpx.HTTPError as error:
            return SendResult(None, _since(started), type(error).__name__)
        return SendResult(response.status_code, _since(started), None if response.is_success else "not 2xx")

    async def close(self) -> None:
        await self._client.aclose()


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
