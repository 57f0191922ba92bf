"""The dashboard's exchange panel is the whole deployment's: with several districts served, only admin sees it.

Notification's overview counts one row per partner for every district the
deployment serves, and cannot be cut by district, so bureau B's dashboard
would show district A's traffic. Reporting in-process on real Kafka and
PostgreSQL, serving Baiyun and Tianhe; the overview comes from a fake
notification (httpx.MockTransport), which also tells whether it was asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest

from services.reporting.adapters.exchange_client import ExchangeClient
from services.reporting.entrypoints.dashboard.pages import sees_whole_deployment
from shared.auth.scopes import Principal, parse_scope
from tests.support.reporting import FakeClock, Harness, reporting_harness

BAIYUN, TIANHE = "440111", "440106"
OVERVIEW = {
    "partners": [
        {
            "name": "furong",
            "transport": "https",
            "ready": True,
            "sent": {"pending": 0, "delivered": 4, "acknowledged": 4, "failed": 0, "redelivered": 0},
            "received": {"notices": 2, "answers": 1},
        }
    ],
    "set_aside": [],
}


@pytest.fixture(scope="module")
async def harness() -> AsyncIterator[Harness]:
    asked: list[httpx.Request] = []

    def notification(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(200, json=OVERVIEW)

    exchange = ExchangeClient("http://notification", "pf_test", transport=httpx.MockTransport(notification))
    clock = FakeClock(datetime.fromisoformat("2027-02-26T09:00:00+08:00"))
    async with reporting_harness(clock, district=f"{BAIYUN},{TIANHE}", exchange=exchange) as running:
        running.app.state.asked = asked
        yield running


async def dashboard(harness: Harness, scope: str, district: str) -> str:
    page = await harness.get("/dashboard", await harness.key(scope), district=district, week="2027-W08")
    assert page.status_code == 200, page.text
    return page.text


async def test_a_bureau_of_one_of_several_districts_does_not_see_the_deployments_exchange(harness: Harness) -> None:
    asked = harness.app.state.asked
    before = len(asked)
    for district in (BAIYUN, TIANHE):
        page = await dashboard(harness, f"district:{district}", district)
        assert 'data-partner="furong"' not in page
        assert 'id="exchange"' not in page
        assert 'id="exchange-withheld"' in page  # says why, rather than leaving the bureau to wonder
    assert len(asked) == before  # not even asked for


async def test_admin_sees_the_deployments_exchange(harness: Harness) -> None:
    page = await dashboard(harness, "admin", TIANHE)
    assert '<tr data-partner="furong">' in page
    assert 'id="exchange-withheld"' not in page


@pytest.mark.parametrize(
    ("scope", "served", "sees"),
    [
        ("district:440111", ["440111"], True),  # one district served: its bureau's traffic is all there is
        ("district:440111", ["440111", "440106"], False),
        ("district:440106", ["440111", "440106"], False),
        ("admin", ["440111", "440106"], True),
        ("street:440111005", ["440111"], False),
    ],
)
def test_who_sees_the_whole_deployment(scope: str, served: list[str], sees: bool) -> None:
    assert sees_whole_deployment(Principal("k", parse_scope(scope)), served) is sees
