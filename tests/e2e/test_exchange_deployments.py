"""Issue 10: three deployments exchange notices and answers over https.

Baiyun (440111) runs intake, routing and notification; Tianhe (440106) and
Changsha Furong (430102) run notification, their exchange door. A Baiyun
street reports a person who lives in a Tianhe street and is registered in
Furong: Tianhe's street gets the transfer notice on its webhook, confirms
it, Baiyun's case shows the answer, Furong's bureau gets the registration
notice. Then with Tianhe down while the notice is sent (nothing lost, nothing
duplicated), and with a correction to another Tianhe street (re-routed).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.notification.domain.signing import secret_of
from tests.support import records
from tests.support.deployments import Deployment, build_deployments, destroy_deployments, start_all
from tests.support.receivers import Receiver
from tests.support.records import FURONG, TONGDE, WUSHAN
from tests.support.routing import case_of, notice_of
from tests.support.system import System
from tests.support.waiting import eventually

YUANCUN = "440106002"  # 员村街道, Tianhe
PLANS = [
    Deployment("baiyun", ("440111",), ("intake", "routing", "notification")),
    Deployment("tianhe", ("440106",)),
    Deployment("furong", ("430102",)),
]
SECRET = secret_of(b"tianhe-street-office-secret-0123")  # a Standard Webhooks `whsec_` secret


@pytest.fixture(scope="module")
async def deployments(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, System]]:
    systems = await build_deployments(Path(tmp_path_factory.mktemp("exchange")), PLANS)
    try:
        start_all(systems, PLANS)
        yield systems
    finally:
        await destroy_deployments(systems)


@pytest.fixture(scope="module")
async def street_hook(deployments: dict[str, System]) -> AsyncIterator[Receiver]:
    """五山街道's webhook, registered at the Tianhe deployment."""
    tianhe = deployments["tianhe"]
    async with Receiver(SECRET) as receiver, httpx.AsyncClient(timeout=10) as client:
        response = await client.put(
            tianhe.url("notification") + f"/v1/recipients/{WUSHAN}/webhook",
            json={"url": receiver.url, "secret": SECRET},
            headers=await tianhe.admin_headers(),
        )
        assert response.status_code in (200, 201), response.text
        yield receiver


async def _report(client: httpx.AsyncClient, baiyun: System, sequence: int) -> str:
    body = records.record(reporting_street=TONGDE, residence_street=WUSHAN, sequence=sequence)
    response = await client.post(baiyun.url("intake") + "/v1/records", json=body, headers=await baiyun.admin_headers())
    assert response.status_code == 202, response.text
    return str(response.json()["record_id"])


async def _pushed(receiver: Receiver, record_id: str) -> list[dict[str, Any]]:
    return [r.body for r in receiver.delivered().values() if r.body["record_id"] == record_id]


async def _inbox(client: httpx.AsyncClient, system: System, code: str, record_id: str) -> list[dict[str, Any]]:
    response = await client.get(system.url("notification") + f"/v1/inbox/{code}", headers=await system.admin_headers())
    assert response.status_code == 200, response.text
    return [n for n in response.json()["notices"] if n["record_id"] == record_id]


async def _case(client: httpx.AsyncClient, baiyun: System, record_id: str, status: str) -> dict[str, Any] | None:
    case = await case_of(client, baiyun.url("routing"), record_id, await baiyun.admin_headers())
    return case if case is not None and case["status"] == status else None


async def _answer(client: httpx.AsyncClient, tianhe: System, notice_id: str, body: dict[str, Any]) -> None:
    street = await tianhe.create_key(f"street:{WUSHAN}")
    response = await client.post(
        tianhe.url("notification") + f"/v1/notices/{notice_id}/feedback",
        json=body,
        headers={"Authorization": f"Bearer {street}"},
    )
    assert response.status_code == 202, response.text


async def test_a_confirmed_inter_district_case_reaches_the_registration_place(
    deployments: dict[str, System], street_hook: Receiver
) -> None:
    baiyun, tianhe, furong = deployments["baiyun"], deployments["tianhe"], deployments["furong"]
    async with httpx.AsyncClient(timeout=10) as client:
        record_id = await _report(client, baiyun, sequence=101)

        [pushed] = await eventually(functools.partial(_pushed, street_hook, record_id))
        assert pushed["kind"] == "transfer"
        assert pushed["recipient_code"] == WUSHAN
        assert pushed["person"]["id_number"] == records.id_number(sequence=101)
        await _answer(client, tianhe, pushed["notice_id"], {"result": "confirmed", "note": "核实在住"})

        case = await eventually(functools.partial(_case, client, baiyun, record_id, "confirmed"))
        forward = next(n for n in case["notices"] if n["kind"] == "forward")
        assert forward["recipient_code"] == "440106"
        assert forward["result"] == "confirmed"
        [registration] = await eventually(functools.partial(_inbox, client, furong, FURONG, record_id))
        assert registration["kind"] == "registration"
        assert registration["person"]["id_number"] == records.id_number(sequence=101)

        overview = await client.get(
            baiyun.url("notification") + "/v1/exchange/partners", headers=await baiyun.admin_headers()
        )
        assert overview.status_code == 200, overview.text
        partners = {p["name"]: p for p in overview.json()["partners"]}
        assert partners["tianhe"]["sent"]["delivered"] >= 1
        assert partners["tianhe"]["received"]["answers"] >= 1
        assert partners["furong"]["sent"]["delivered"] >= 1


async def test_a_correction_to_another_street_is_routed_there(
    deployments: dict[str, System], street_hook: Receiver
) -> None:
    baiyun, tianhe = deployments["baiyun"], deployments["tianhe"]
    async with httpx.AsyncClient(timeout=10) as client:
        record_id = await _report(client, baiyun, sequence=103)
        [pushed] = await eventually(functools.partial(_pushed, street_hook, record_id))
        await _answer(
            client, tianhe, pushed["notice_id"], {"result": "corrected", "corrections": {"residence_street": YUANCUN}}
        )

        [moved] = await eventually(functools.partial(_inbox, client, tianhe, YUANCUN, record_id))
        assert moved["kind"] == "transfer"
        case = await case_of(client, baiyun.url("routing"), record_id, await baiyun.admin_headers())
        assert case is not None
        assert case["version"] == 2
        forwards = [n for n in case["notices"] if n["kind"] == "forward"]
        assert [n["case_version"] for n in forwards] == [1, 2]


async def test_a_partner_down_while_the_notice_is_sent_gets_it_once_when_back(
    deployments: dict[str, System], street_hook: Receiver
) -> None:
    baiyun, tianhe, furong = deployments["baiyun"], deployments["tianhe"], deployments["furong"]
    async with httpx.AsyncClient(timeout=10) as client:
        tianhe.stop("notification")
        record_id = await _report(client, baiyun, sequence=105)
        case = await eventually(functools.partial(_case, client, baiyun, record_id, "open"))
        forward_id = notice_of(case, "forward")

        async def refused_attempts() -> int:
            response = await client.get(
                baiyun.url("notification") + f"/v1/notices/{forward_id}/deliveries",
                headers=await baiyun.admin_headers(),
            )
            attempts = response.json()["attempts"] if response.status_code == 200 else []
            return sum(1 for a in attempts if a["status_code"] is None)

        assert await eventually(refused_attempts) >= 1
        tianhe.start("notification")

        [pushed] = await eventually(functools.partial(_pushed, street_hook, record_id))
        await _answer(client, tianhe, pushed["notice_id"], {"result": "confirmed"})
        await eventually(functools.partial(_case, client, baiyun, record_id, "confirmed"))
        [registration] = await eventually(functools.partial(_inbox, client, furong, FURONG, record_id))
        assert registration["kind"] == "registration"

        assert len(await _inbox(client, tianhe, WUSHAN, record_id)) == 1
        assert len(await _pushed(street_hook, record_id)) == 1
