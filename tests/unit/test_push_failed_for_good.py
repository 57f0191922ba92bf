"""A receiver whose notices fail for good gets a line a minute with their count, not a line per notice.

A street office's receiver down for a day wrote "push failed for good" once per notice: thousands of lines.
Each notice's failure is still recorded (the store is told of every one); only the log folds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest
import structlog
from structlog.testing import capture_logs

from services.notification.adapters.deliveries import DeliveryStore
from services.notification.adapters.delivery_claims import Attempted, Claim
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.webhooks import WebhookStore
from services.notification.domain.backoff import BackoffPolicy, NextStep, Outcome
from services.notification.service_layer import push_attempts
from services.notification.service_layer.exchange_outbound import ExchangeRequest, OutboundExchange, Refusal
from services.notification.service_layer.push_attempts import PushAttempts
from tests.support.notification_fakes import FakeClock, FakeWebhookSender

START = datetime(2027, 2, 24, 2, 0, tzinfo=UTC)
POLICY = BackoffPolicy(base_s=1.0, cap_s=4.0, max_attempts=3)
DOOR = "https://partner.example/v1/exchange/notices"


class RecordingStore:
    """Records every attempt and answers the step it was given (no redelivery meanwhile)."""

    def __init__(self) -> None:
        self.recorded: list[Attempted] = []

    async def record_many(self, attempts: Sequence[Attempted]) -> list[NextStep]:
        self.recorded.extend(attempts)
        return [a.step for a in attempts]


class Partner:
    """An exchange partner's door, or a refusal of our own for every message to it."""

    def __init__(self, refusal: str | None = None) -> None:
        self._refusal = refusal

    async def request_for(self, claim: Claim) -> ExchangeRequest | Refusal:
        if self._refusal is not None:
            return Refusal(self._refusal)
        return ExchangeRequest(DOOR, b"{}", {"content-type": "application/json"})


def attempts_with(store: RecordingStore, partner: Partner, sender: FakeWebhookSender, clock: FakeClock) -> PushAttempts:
    unused: Any = None
    return PushAttempts(
        store=cast(DeliveryStore, store),
        webhooks=cast(WebhookStore, unused),
        sender=sender,
        clock=clock,
        policy=POLICY,
        record_link_base="http://intake/v1/records/",
        sealed=cast(SealedNotices, unused),
        answered=lambda claim, result: None,
        wake=lambda: None,
        on_recorded=lambda: None,
        exchange=cast(OutboundExchange, partner),
    )


def last_attempt(n: int) -> Claim:
    """A message to partner 440200's last attempt of its round."""
    return Claim(f"notice-{n}", "440200001", POLICY.max_attempts - 1, POLICY.max_attempts - 1, exchange_code="440200")


@pytest.mark.parametrize(("partner", "answer"), [(Partner(), 503), (Partner(refusal="no key for partner 440200"), 0)])
async def test_notices_failing_for_good_at_one_receiver_are_a_line_a_minute_each_still_recorded(
    monkeypatch: pytest.MonkeyPatch, partner: Partner, answer: int
) -> None:
    """Retries run out (503 at every round's last attempt), or our own refusal fails each at once."""
    store, sender, clock = RecordingStore(), FakeWebhookSender(statuses={DOOR: answer}), FakeClock(START)
    pushes = attempts_with(store, partner, sender, clock)
    with capture_logs() as logs:
        monkeypatch.setattr(push_attempts, "log", structlog.get_logger(push_attempts.__name__))
        for n in range(150):  # 150 notices in 149 s, each the last of its round
            await pushes.attempt(last_attempt(n))
            clock.advance(1.0)

    assert [a.claim.notice_id for a in store.recorded] == [f"notice-{n}" for n in range(150)]
    assert all(a.step.outcome is Outcome.FAILED for a in store.recorded)  # each notice failed, as before
    said = [line for line in logs if line["event"] == "push failed for good"]
    assert len(said) == 3  # not 150
    assert [line["failed_for_good"] for line in said] == [1, 60, 60]  # at 0 s, 60 s and 120 s; 29 held
    assert said[0]["notice_ids"] == ["notice-0"]
    assert said[1]["notice_ids"][:2] == ["notice-1", "notice-2"]
    assert {line["receiver"] for line in said} == {"440200"}
    assert all(line["reason"] for line in said)


async def test_the_notices_held_are_told_when_the_receiver_delivers_again(monkeypatch: pytest.MonkeyPatch) -> None:
    store, sender, clock = RecordingStore(), FakeWebhookSender(statuses={DOOR: 503}), FakeClock(START)
    pushes = attempts_with(store, Partner(), sender, clock)
    with capture_logs() as logs:
        monkeypatch.setattr(push_attempts, "log", structlog.get_logger(push_attempts.__name__))
        for n in range(5):
            await pushes.attempt(last_attempt(n))
        sender.statuses[DOOR] = 200
        await pushes.attempt(last_attempt(5))

    said = [line for line in logs if line["event"] == "push failed for good"]
    assert [(line["failed_for_good"], line["notice_ids"]) for line in said] == [
        (1, ["notice-0"]),
        (4, ["notice-1", "notice-2", "notice-3", "notice-4"]),  # held, told as the receiver answers again
    ]


async def test_the_notices_held_are_told_a_minute_on_by_the_workers_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver neither fails nor delivers again after its burst: the count held is told by the pass a minute
    after its last line, once, not lost."""
    store, sender, clock = RecordingStore(), FakeWebhookSender(statuses={DOOR: 503}), FakeClock(START)
    pushes = attempts_with(store, Partner(), sender, clock)
    with capture_logs() as logs:
        monkeypatch.setattr(push_attempts, "log", structlog.get_logger(push_attempts.__name__))
        for n in range(4):
            await pushes.attempt(last_attempt(n))
        pushes.tell_held(clock.now())  # a pass within the minute: nothing yet
        clock.advance(60.0)
        pushes.tell_held(clock.now())
        pushes.tell_held(clock.now())

    said = [(line["failed_for_good"], line["notice_ids"]) for line in logs if line["event"] == "push failed for good"]
    assert said == [(1, ["notice-0"]), (3, ["notice-1", "notice-2", "notice-3"])]
