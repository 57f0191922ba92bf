"""Hand-written fakes of notification's outbound effects: the webhook sender and the clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.notification.adapters.sender import Accepts, SendResult
from shared.clock import FixedClock


@dataclass
class Sent:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class FakeWebhookSender:
    """Answers by URL: a status code per known URL; an unknown URL is "connection refused".

    `script` overrides the next answers for a URL, in order (None = no answer: a timeout).
    """

    statuses: dict[str, int] = field(default_factory=dict)
    script: dict[str, list[int | None]] = field(default_factory=dict)
    refusals: dict[str, str] = field(default_factory=dict)  # URL: why the destination policy refuses it
    sent: list[Sent] = field(default_factory=list)
    delay_s: float = 0.0  # how long a request takes: > 0 lets concurrent pushes overlap
    # while set, a request waits for it instead of `delay_s`: a test acts while the request is surely under way,
    # however slow the box (a 0.3 s delay was outrun by two statements on a loaded CI box)
    held: asyncio.Event | None = None
    in_flight: Counter[str] = field(default_factory=Counter)
    most_in_flight: Counter[str] = field(default_factory=Counter)  # the most requests at once, per URL
    concurrency: dict[str, list[int]] = field(default_factory=dict)  # per URL: requests in flight as each began

    async def send(
        self, url: str, body: bytes, headers: dict[str, str], *, accepts: Accepts | None = None
    ) -> SendResult:
        if url in self.refusals:
            return SendResult(None, 0.0, f"refused: {self.refusals[url]}", refused=True)
        self.sent.append(Sent(url, body, dict(headers)))
        self.in_flight[url] += 1
        self.most_in_flight[url] = max(self.most_in_flight[url], self.in_flight[url])
        self.concurrency.setdefault(url, []).append(self.in_flight[url])
        try:
            await (self.held.wait() if self.held is not None else asyncio.sleep(self.delay_s))
        finally:
            self.in_flight[url] -= 1
        if self.script.get(url):
            status = self.script[url].pop(0)
            if status is None:
                return SendResult(None, 1.0, "timeout (ReadTimeout)")
        elif url in self.statuses:
            status = self.statuses[url]
        else:
            return SendResult(None, 0.5, "ConnectError")
        return SendResult(status, 1.0, None if 200 <= status < 300 else "not 2xx")


class FakeClock(FixedClock):
    @property
    def current(self) -> datetime:
        return self.at

    @current.setter
    def current(self, moment: datetime) -> None:
        self.advance_to(moment)

    def advance(self, seconds: float) -> None:
        self.advance_to(self.at + timedelta(seconds=seconds))
