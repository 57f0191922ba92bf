"""A light HTTP/1.1 load client: the same client for the bare FastAPI anchor and for intake.

httpx spends more CPU per request than a lean server does, and on a 2-core
machine the client then measures itself. This one writes pre-built request
bytes on keep-alive connections and reads just enough of each answer
(status line, Content-Length, body), so most of the CPU goes to the server.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# uvicorn closes a keep-alive connection idle for 5 s; one idle this long is opened again before a request.
IDLE_REOPEN_S = 4.0


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    latencies_s: list[float]
    statuses: dict[int, int]

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds

    def percentile_ms(self, p: int) -> float:
        return statistics.quantiles(self.latencies_s, n=100)[p - 1] * 1000


def post_requests(host: str, port: int, path: str, bodies: Iterable[Any], headers: dict[str, str]) -> list[bytes]:
    """Each body as the bytes of one keep-alive POST request."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    built = []
    for body in bodies:
        payload = json.dumps(body, ensure_ascii=False).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n{extra}\r\n"
        )
        built.append(head.encode() + payload)
    return built


Answered = Callable[[int, float, int, bytes], None]  # (request index, perf_counter at send, status, body)


async def hammer(
    host: str,
    port: int,
    requests: Sequence[bytes],
    *,
    concurrency: int = 32,
    rate: float | None = None,
    answered: Answered | None = None,
) -> LoadResult:
    """Send every request once over `concurrency` connections; one request in flight per connection.

    With `rate`, request n is not sent before n/rate seconds from the start (a steady schedule;
    when the server falls behind, requests start late rather than queue without bound).
    `answered` sees each answer, body included.
    """
    queue = list(reversed(list(enumerate(requests))))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.perf_counter()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        last_answer = time.perf_counter()
        try:
            while queue:
                index, request = queue.pop()
                if rate is not None:
                    delay = started + index / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                if time.perf_counter() - last_answer > IDLE_REOPEN_S:
                    # At a low rate a connection waits longer than the server keeps an idle one open.
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                sent = time.perf_counter()
                writer.write(request)
                status, body = await _read_response(reader)
                last_answer = time.perf_counter()
                latencies.append(last_answer - sent)
                statuses[status] = statuses.get(status, 0) + 1
                if answered is not None:
                    answered(index, sent, status, body)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return LoadResult(len(requests), time.perf_counter() - started, latencies, statuses)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return status, await reader.readexactly(length) if length else b""
