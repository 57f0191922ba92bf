"""One contract, two implementations: the fake sender and clock behave like the real ones.

The real sender posts to real receivers on 127.0.0.1; the fake is configured
to stand for the same four receivers. If the fake drifted from the real one,
the unit-speed worker tests (which use it) would prove nothing.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from services.notification.adapters.destinations import DestinationGuard
from services.notification.adapters.sender import PinnedWebhookSender, WebhookSender
from services.notification.domain.destinations import DestinationPolicy
from services.notification.domain.signing import secret_of, signed_headers
from shared.clock import Clock, SystemClock
from tests.support.notification_fakes import FakeClock, FakeWebhookSender
from tests.support.receivers import Receiver
from tests.support.system import free_port

SECRET = secret_of(b"contract-test-webhook-secret-012")


@dataclass
class Endpoints:
    sender: WebhookSender
    ok: str
    failing: str
    hanging: str
    unreachable: str
    inside: str  # refused by the destination policy


@pytest.fixture(params=["fake", "real"], scope="module")
async def endpoints(request: pytest.FixtureRequest) -> AsyncIterator[Endpoints]:
    if request.param == "fake":
        ok, failing, hanging = "http://ok.test/hook", "http://failing.test/hook", "http://hanging.test/hook"
        inside = "https://10.0.0.1/hook"
        fake = FakeWebhookSender(
            statuses={ok: 200, failing: 503}, script={hanging: [None]}, refusals={inside: "a private address"}
        )
        yield Endpoints(fake, ok, failing, hanging, "http://nobody.test/hook", inside)
        return
    guard = DestinationGuard(DestinationPolicy.parse("loopback,http"))
    real = PinnedWebhookSender(timeout_s=0.5, max_connections=4, guard=guard)
    async with (
        Receiver(SECRET) as good,
        Receiver(SECRET, behaviour="fail") as bad,
        Receiver(SECRET, behaviour="hang") as stuck,
    ):
        yield Endpoints(
            real, good.url, bad.url, stuck.url, f"http://127.0.0.1:{free_port()}/hook", "https://10.0.0.1/hook"
        )
    await real.close()


BODY = b'{"notice_id":"n"}'


def signed_now() -> dict[str, str]:
    """Signed now, not at import: a receiver refuses a timestamp older than its tolerance."""
    return {"content-type": "application/json", **signed_headers(SECRET, "n", str(int(time.time())), BODY)}


async def test_a_2xx_answer_is_a_result_without_error(endpoints: Endpoints) -> None:
    result = await endpoints.sender.send(endpoints.ok, BODY, signed_now())
    assert result.status_code is not None
    assert 200 <= result.status_code < 300
    assert result.error is None
    assert result.latency_ms >= 0


async def test_a_refusal_is_a_result_with_its_status_and_an_error(endpoints: Endpoints) -> None:
    result = await endpoints.sender.send(endpoints.failing, BODY, signed_now())
    assert (result.status_code, result.error) == (503, "not 2xx")


async def test_no_answer_in_time_is_a_timeout_not_an_exception(endpoints: Endpoints) -> None:
    result = await endpoints.sender.send(endpoints.hanging, BODY, signed_now())
    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("timeout")


async def test_nobody_listening_is_an_error_not_an_exception(endpoints: Endpoints) -> None:
    result = await endpoints.sender.send(endpoints.unreachable, BODY, signed_now())
    assert result.status_code is None
    assert result.error is not None
    assert not result.error.startswith("timeout")


@pytest.fixture(params=["fake", "real"])
def clock(request: pytest.FixtureRequest) -> Clock:
    return FakeClock(datetime(2027, 2, 24, tzinfo=UTC)) if request.param == "fake" else SystemClock()


def test_the_clock_tells_aware_utc_time_that_never_goes_back(clock: Clock) -> None:
    first, second = clock.now(), clock.now()
    assert first.utcoffset() == timedelta(0)
    assert second >= first


async def test_a_destination_inside_is_refused_as_a_result(endpoints: Endpoints) -> None:
    result = await endpoints.sender.send(endpoints.inside, BODY, signed_now())
    assert result.refused
    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("refused: ")
