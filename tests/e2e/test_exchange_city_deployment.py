"""Issue 10, item 4: one deployment serving several districts; the exchange only for what lies outside.

Guangzhou serves Baiyun (440111) and Tianhe (440106) with intake, routing and
notification; Changsha Furong (430102) runs its own notification. A case
between Baiyun and Tianhe goes straight to the Tianhe street's webhook and
never reaches the exchange (no partner is sent anything, Furong receives
nothing); a case for a person living in Furong still travels through the
exchange to the Furong deployment and its answer comes back, and the bureau's
dashboard shows it in the exchange table. Both run over
https and through an FTPS platform (pyftpdlib with TLS required, its
certificate issued by a test CA that the deployments are told to trust).
(tests/e2e/test_exchange_deployments.py is the other shape: a deployment per district.)
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.notification.domain.signing import secret_of
from tests.support import certificates, records
from tests.support.deployments import Deployment, build_deployments, destroy_deployments, start_all
from tests.support.ftp_platform import FtpPlatform
from tests.support.receivers import Receiver
from tests.support.records import BAIYUN, FURONG, TONGDE, WUSHAN
from tests.support.routing import case_of, sent
from tests.support.system import System
from tests.support.waiting import eventually

WENYILU = "430102001"  # 文艺路街道, Furong
PLANS = [
    Deployment("guangzhou", ("440111", "440106"), ("intake", "routing", "notification", "reporting")),
    Deployment("furong", ("430102",)),
]
SECRET = secret_of(b"wushan-street-office-secret-0123")


@dataclass(frozen=True, slots=True)
class City:
    guangzhou: System
    furong: System
    transport: str
    platform: FtpPlatform | None  # the FTPS platform, when the exchange goes through it


@pytest.fixture(scope="module", params=["https", "ftps"])
async def city(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[City]:
    """The two deployments, exchanging over https or through an FTPS platform."""
    logs = Path(tmp_path_factory.mktemp(f"city-{request.param}"))
    with contextlib.ExitStack() as stack:
        platform = None
        if request.param == "ftps":
            tls = certificates.issue(logs / "tls")
            platform = stack.enter_context(FtpPlatform(logs / "ftp-root", ["440111", "440106", "430102"], tls=tls))
        systems = await build_deployments(logs, PLANS, platform)
        guangzhou = systems["guangzhou"]  # its dashboard reads the exchange from its notification
        guangzhou.env["REPORTING_NOTIFICATION_URL"] = guangzhou.url("notification")
        # it serves two districts: only a key covering both reads notification's overview of them
        guangzhou.env["REPORTING_NOTIFICATION_KEY"] = await guangzhou.create_key("admin")
        try:
            start_all(systems, PLANS)
            yield City(systems["guangzhou"], systems["furong"], request.param, platform)
        finally:
            await destroy_deployments(systems)


async def _report(client: httpx.AsyncClient, system: System, body: dict[str, Any]) -> str:
    response = await client.post(system.url("intake") + "/v1/records", json=body, headers=await system.admin_headers())
    assert response.status_code == 202, response.text
    return str(response.json()["record_id"])


async def _case(client: httpx.AsyncClient, system: System, record_id: str, status: str) -> dict[str, Any] | None:
    case = await case_of(client, system.url("routing"), record_id, await system.admin_headers())
    return case if case is not None and case["status"] == status else None


async def _inbox(client: httpx.AsyncClient, system: System, code: str, record_id: str) -> list[dict[str, Any]]:
    response = await client.get(system.url("notification") + f"/v1/inbox/{code}", headers=await system.admin_headers())
    assert response.status_code == 200, response.text
    return [n for n in response.json()["notices"] if n["record_id"] == record_id]


async def _answer(client: httpx.AsyncClient, system: System, street: str, notice_id: str, result: str) -> None:
    key = await system.create_key(f"street:{street}")
    response = await client.post(
        system.url("notification") + f"/v1/notices/{notice_id}/feedback",
        json={"result": result},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 202, response.text


async def _exchange(client: httpx.AsyncClient, system: System) -> dict[str, Any]:
    response = await client.get(
        system.url("notification") + "/v1/exchange/partners", headers=await system.admin_headers()
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _sent_total(partner: dict[str, Any]) -> int:
    counts: dict[str, int] = partner["sent"]
    return sum(counts[state] for state in ("pending", "delivered", "failed", "attempts"))


async def test_a_case_between_two_served_districts_goes_to_the_street_without_the_exchange(city: City) -> None:
    guangzhou, furong = city.guangzhou, city.furong
    body = records.record(reporting_street=TONGDE, residence_street=WUSHAN, sequence=301)
    body["registration"] = {"division": BAIYUN, "address": "广州市白云区同德路 1 号"}
    async with Receiver(SECRET) as hook, httpx.AsyncClient(timeout=10) as client:
        response = await client.put(
            guangzhou.url("notification") + f"/v1/recipients/{WUSHAN}/webhook",
            json={"url": hook.url, "secret": SECRET},
            headers=await guangzhou.admin_headers(),
        )
        assert response.status_code in (200, 201), response.text
        record_id = await _report(client, guangzhou, body)

        async def pushed() -> list[dict[str, Any]]:
            return [r.body for r in hook.delivered().values() if r.body["record_id"] == record_id]

        [transfer] = await eventually(pushed)
        assert transfer["kind"] == "transfer"
        assert transfer["route"] == "inter-district"
        await _answer(client, guangzhou, WUSHAN, transfer["notice_id"], "confirmed")

        case = await eventually(functools.partial(_case, client, guangzhou, record_id, "confirmed"))
        assert sent(case) == {
            ("transfer", "440111", None),
            ("transfer", WUSHAN, None),
            ("feedback", "440111", None),
            ("registration", BAIYUN, None),
        }

        async def at_the_bureau() -> list[str] | None:
            kinds = sorted(n["kind"] for n in await _inbox(client, guangzhou, BAIYUN, record_id))
            return kinds if len(kinds) == 3 else None  # the informed transfer, the answer relayed, the registration

        assert await eventually(at_the_bureau) == ["feedback", "registration", "transfer"]

        # nothing went to any partner, nothing was refused, and Furong heard nothing
        overview = await _exchange(client, guangzhou)
        assert [p["name"] for p in overview["partners"] if _sent_total(p)] == []
        assert overview["failed"] == []
        assert all(p["name"] != "unconfigured" for p in overview["partners"])
        assert all(p["received"] == {"notices": 0, "answers": 0} for p in (await _exchange(client, furong))["partners"])
        if city.platform is not None:
            assert not any(path.is_file() for path in city.platform.root.rglob("*"))


async def test_a_case_for_a_district_outside_still_travels_through_the_exchange(city: City) -> None:
    guangzhou, furong = city.guangzhou, city.furong
    body = records.record(reporting_street=TONGDE, residence_street=WENYILU, sequence=303)
    async with httpx.AsyncClient(timeout=10) as client:
        record_id = await _report(client, guangzhou, body)

        [transfer] = await eventually(functools.partial(_inbox, client, furong, WENYILU, record_id))
        assert transfer["kind"] == "transfer"
        assert transfer["person"]["id_number"] == records.id_number(sequence=303)
        await _answer(client, furong, WENYILU, transfer["notice_id"], "confirmed")

        case = await eventually(functools.partial(_case, client, guangzhou, record_id, "confirmed"))
        forward = next(n for n in case["notices"] if n["kind"] == "forward")
        assert (forward["recipient_code"], forward["exchange_endpoint"]) == (FURONG, "furong")

        async def once_delivered() -> dict[str, dict[str, Any]] | None:
            """The partners, once the forward counts as delivered: Furong may store it, and its street answer,
            before Guangzhou records the answer to its POST (or its upload)."""
            partners = {p["name"]: p for p in (await _exchange(client, guangzhou))["partners"]}
            return partners if partners["furong"]["sent"]["delivered"] >= 1 else None

        partners = await eventually(once_delivered)
        assert partners["furong"]["transport"] == city.transport
        assert partners["furong"]["sent"]["delivered"] == 1
        assert partners["furong"]["received"]["answers"] == 1
        if (platform := city.platform) is not None:  # the forward went into Furong's folder, the answer into ours
            # each poller moves a batch to done/ after it applied it and wrote the acknowledgement
            await eventually(lambda: list(platform.path("430102", "done").glob("*.batch")))
            await eventually(lambda: list(platform.path("440111", "done").glob("*.batch")))

        # Guangzhou serves Baiyun and Tianhe: the exchange is both districts' traffic, so admin sees it and
        # Baiyun's bureau does not
        bureau = {"Authorization": f"Bearer {await guangzhou.create_key(f'district:{BAIYUN}')}"}
        withheld = await client.get(
            guangzhou.url("reporting") + "/dashboard", params={"district": BAIYUN}, headers=bureau
        )
        assert withheld.status_code == 200, withheld.text
        assert "data-partner" not in withheld.text
        assert 'id="exchange-withheld"' in withheld.text
        refused = await client.get(guangzhou.url("notification") + "/v1/exchange/partners", headers=bureau)
        assert refused.status_code == 403, refused.text  # nor from notification itself
        assert refused.headers["content-type"] == "application/problem+json"

        async def furong_row() -> str | None:
            """The dashboard's row for Furong, once the forward is acknowledged (through FTPS: once Furong's
            acknowledgement of the batch is settled here)."""
            page = await client.get(
                guangzhou.url("reporting") + "/dashboard",
                params={"district": BAIYUN},
                headers=await guangzhou.admin_headers(),
            )
            assert page.status_code == 200, page.text
            row = re.search(r'<tr data-partner="furong">(.*?)</tr>', page.text, re.DOTALL)
            assert row is not None, page.text
            return row[1] if '<td data-figure="acknowledged">1</td>' in row[1] else None

        row = await eventually(furong_row)
        for figure, value in (("sent", 1), ("acknowledged", 1), ("failed", 0), ("received", 1)):
            assert f'<td data-figure="{figure}">{value}</td>' in row, (figure, row)
