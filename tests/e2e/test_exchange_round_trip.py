"""Issues 4 and 5 together: a street answers in notification, routing acts on the answer.

A cross-street record reaches 新市街道's inbox; the street confirms it there
(with its own key); the answer travels as NoticeAnswered to routing, which
tells the household-registration place (Changsha, outside this deployment,
so through its external exchange endpoint); that notice reaches its inbox.
"""

from __future__ import annotations

import functools
from typing import Any

import httpx

from tests.support import records
from tests.support.records import FURONG, TONGDE, XINSHI
from tests.support.routing import case_of
from tests.support.system import System
from tests.support.waiting import eventually


async def _inbox(client: httpx.AsyncClient, system: System, code: str, key: str) -> list[dict[str, Any]]:
    response = await client.get(
        system.url("notification") + f"/v1/inbox/{code}", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    notices: list[dict[str, Any]] = response.json()["notices"]
    return notices


async def _case(client: httpx.AsyncClient, system: System, record_id: str, status: str) -> dict[str, Any] | None:
    case = await case_of(client, system.url("routing"), record_id, await system.admin_headers())
    return case if case is not None and case["status"] == status else None


async def test_confirmation_given_in_notification_reaches_the_registration_place(system: System) -> None:
    admin, street = await system.create_key("admin"), await system.create_key(f"street:{XINSHI}")
    body = records.record(reporting_street=TONGDE, residence_street=XINSHI, sequence=41)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            system.url("intake") + "/v1/records", json=body, headers={"Authorization": f"Bearer {admin}"}
        )
        assert response.status_code == 202, response.text
        record_id = response.json()["record_id"]

        [notice] = await eventually(functools.partial(_inbox, client, system, XINSHI, street))
        assert notice["record_id"] == record_id
        answer = await client.post(
            system.url("notification") + f"/v1/notices/{notice['notice_id']}/feedback",
            json={"result": "confirmed", "note": "核实在住"},
            headers={"Authorization": f"Bearer {street}"},
        )
        assert answer.status_code == 202, answer.text
        again = await client.post(
            system.url("notification") + f"/v1/notices/{notice['notice_id']}/feedback",
            json={"result": "not_found"},
            headers={"Authorization": f"Bearer {street}"},
        )
        assert again.status_code == 409

        registration = await eventually(functools.partial(_inbox, client, system, FURONG, admin))
        assert [n["record_id"] for n in registration] == [record_id]
        assert registration[0]["kind"] == "registration"
        # routing publishes the registration notice before it commits the case's new status
        await eventually(functools.partial(_case, client, system, record_id, "confirmed"))
