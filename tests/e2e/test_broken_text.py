"""Half of a UTF-16 pair in any JSON body, at every door of the four services: a 422 naming the field.

JSON may escape a lone surrogate ("\\ud83d", an emoji's first half with its
second lost); no text encoding can store it. Sent as `json.dumps(body)`,
whose ASCII output writes it as that escape, to a route of each kind: a
plain text field (stored as it came), a constrained one, a field name, and
a text inside an opaque query cursor. Intake's own record routes have their
tests in test_intake.py and test_intake_bulk.py.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from shared.http.surrogates import IN_NAME
from shared.surrogates import IN_TEXT
from tests.support.notification_client import bearer, publish_notices
from tests.support.records import BAIYUN, XINSHI, id_number
from tests.support.system import System
from tests.support.waiting import eventually

HALF = "\ud83d"  # the first half of 😀
PHASES = [{"name": "canvass", "starts_on": "2026-11-01", "ends_on": "2026-11-30"}]
CAMPAIGN = {"name": "人口普查", "district": BAIYUN, "phases": PHASES}
SAMPLE = {"district": BAIYUN, "seed": "s", "size_per_street": 1, "week_from": "2026-W01", "week_to": "2026-W02"}
NO_RECORD = "00000000-0000-4000-8000-000000000000"  # no record has it; fixed, so that each worker names the tests alike

# (service, method, path, body, the pointer named)
BODIES: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("intake", "POST", "/v1/records/search", {"id_number": id_number() + HALF}, "/id_number"),
    ("intake", "POST", "/v1/records/search", {"id_number": id_number(), HALF: "x"}, ""),
    ("routing", "POST", f"/v1/review/{NO_RECORD}/resolution", {"resolution": "dismissed", "reason": HALF}, "/reason"),
    ("routing", "POST", f"/v1/review/{NO_RECORD}/resolution", {"resolution": "dismissed", "x": {HALF: 1}}, "/x"),
    ("notification", "PUT", f"/v1/recipients/{XINSHI}/webhook", {"url": f"http://127.0.0.1:9/{HALF}"}, "/url"),
    ("notification", "PUT", f"/v1/recipients/{XINSHI}/webhook", {"url": "http://127.0.0.1:9/", HALF: 1}, ""),
    (
        "reporting",
        "POST",
        "/v1/campaigns",
        CAMPAIGN | {"target": {"marital_statuses": [HALF]}},
        "/target/marital_statuses/0",
    ),
    ("reporting", "POST", "/v1/campaigns", CAMPAIGN | {"name": "普查" + HALF}, "/name"),
    ("reporting", "POST", "/v1/spotchecks", SAMPLE | {"seed": HALF}, "/seed"),
    (
        "reporting",
        "POST",
        "/v1/workers",
        {"street": XINSHI, "workers": [{"staff_id": "w1", "name": "张" + HALF}]},
        "/workers/0/name",
    ),
]


async def send(client: httpx.AsyncClient, method: str, url: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    # json.dumps escapes every non-ASCII character: the surrogate travels as \ud83d, as a client would write it
    content = json.dumps(body).encode()
    return await client.request(method, url, content=content, headers=headers | {"content-type": "application/json"})


def assert_named(response: httpx.Response, pointer: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert [e["pointer"] for e in problem["errors"]] == [pointer]
    assert problem["errors"][0]["detail"] in (IN_TEXT, IN_NAME)  # type the text (or the name) again
    assert "ud83d" not in response.text.lower()
    assert "普查" not in response.text  # nor the rest of the value
    assert "张" not in response.text


@pytest.fixture(scope="module")
async def admin(system: System) -> dict[str, str]:
    return bearer(await system.create_key("admin", label="broken text"))


@pytest.mark.parametrize(("service", "method", "path", "body", "pointer"), BODIES, ids=lambda v: str(v)[:40])
async def test_a_json_body_with_half_a_character_is_a_422_at_its_field(
    system: System, admin: dict[str, str], service: str, method: str, path: str, body: Any, pointer: str
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await send(client, method, system.url(service) + path, body, admin)
    assert_named(response, pointer)


async def test_an_answer_to_a_notice_with_half_a_character_is_a_422(system: System, admin: dict[str, str]) -> None:
    [notice_id] = await publish_notices(system, XINSHI, 1, first=901)
    url = f"{system.url('notification')}/v1/notices/{notice_id}"
    async with httpx.AsyncClient(timeout=10) as client:
        await eventually(lambda: _is_shown(client, url, admin))
        in_name = await send(
            client, "POST", url + "/feedback", {"result": "corrected", "corrections": {HALF: "x"}}, admin
        )
        in_note = await send(client, "POST", url + "/feedback", {"result": "confirmed", "note": "好" + HALF}, admin)
        shown = await client.get(url, headers=admin)
    assert_named(in_name, "/corrections")
    assert_named(in_note, "/note")
    assert shown.json()["status"] != "answered"


async def test_an_inbox_cursor_holding_half_a_character_is_a_400(system: System, admin: dict[str, str]) -> None:
    """Not a body, and not sent to the database (which refused it, answered as a value too long to store)."""
    forged = json.dumps(["2026-11-01T00:00:00+00:00", "n" + HALF]).encode()  # \ud83d, as a cursor's JSON would hold it
    cursor = base64.urlsafe_b64encode(forged).decode().rstrip("=")
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            f"{system.url('notification')}/v1/inbox/{XINSHI}", params={"cursor": cursor}, headers=admin
        )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"] == "the cursor is not one this service returned"


async def _is_shown(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> bool:
    return (await client.get(url, headers=headers)).status_code == 200


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_a_time_with_no_utc_counterpart_is_a_4xx(system: System, admin: dict[str, str], moment: str) -> None:
    """Year 1 east of UTC (or 9999 west of it) has no UTC time; the stores keep UTC, and the fold once died on it."""
    record = {
        "event": "new_inflow",
        "person": {"id_number": id_number(sequence=903), "name": "测试"},
        "reporting_street": XINSHI,
        "residence": {"street": XINSHI, "address": "新市路 1 号"},
        "registration": {"division": BAIYUN, "address": "白云区 1 号"},
        "observed_at": moment,
    }
    async with httpx.AsyncClient(timeout=10) as client:
        inbox = await client.get(
            f"{system.url('notification')}/v1/inbox/{XINSHI}", params={"since": moment}, headers=admin
        )
        posted = await client.post(f"{system.url('intake')}/v1/records", json=record, headers=admin)
    assert inbox.status_code == 422, inbox.text
    assert inbox.headers["content-type"].startswith("application/problem+json")
    assert posted.status_code == 422, posted.text
    assert [e["pointer"] for e in posted.json()["errors"]] == ["/observed_at"]


@pytest.mark.parametrize("week", ["0001-W01", "9999-W52"])
async def test_a_week_at_the_calendars_ends_is_a_422(system: System, admin: dict[str, str], week: str) -> None:
    """The first week of year 1 has no week before it, the last of 9999 no window after it: no 500 for either."""
    base, query = system.url("reporting"), {"week": week, "street": XINSHI}
    async with httpx.AsyncClient(timeout=10) as client:
        answers = [
            await client.get(f"{base}/v1/reports/weekly", params=query, headers=admin),
            await client.get(f"{base}/v1/reports/quality", params=query, headers=admin),
            await client.post(f"{base}/v1/reports/weekly/submit", json=query, headers=admin),
        ]
    assert [a.status_code for a in answers] == [422, 422, 422], [a.text for a in answers]
    assert all(a.headers["content-type"].startswith("application/problem+json") for a in answers)


async def test_a_campaign_day_at_the_calendars_end_is_a_422_at_its_field(system: System, admin: dict[str, str]) -> None:
    """A campaign in 9999 was stored and then answered 500 on every read: its lists fall due after year 9999."""
    last = {"name": "canvass", "starts_on": "9999-12-30", "ends_on": "9999-12-31"}
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{system.url('reporting')}/v1/campaigns", json=CAMPAIGN | {"phases": [last]}, headers=admin
        )
    assert response.status_code == 422, response.text
    assert [e["pointer"] for e in response.json()["errors"]] == ["/phases/0/starts_on", "/phases/0/ends_on"]
