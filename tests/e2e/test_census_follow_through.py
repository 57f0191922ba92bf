"""Issue 13: outflows, changes and unanswered notices followed to the people they concern.

Intake and notification run as processes; routing runs in the test's loop,
built by its own `create_app` with a FixedClock, so the reminder job (a pass
every 0.2 s) sees the working days the test chooses. Records go in through
intake's HTTP API; notices come out of notification's inboxes and webhooks.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.routing.bootstrap import create_app
from services.routing.settings import RoutingSettings
from shared.clock import FixedClock
from shared.notice_grants import grant_for
from tests.support import records
from tests.support.in_process import served
from tests.support.infra import TEST_KEYRING
from tests.support.notification_client import SECRET, bearer, subscribe
from tests.support.receivers import Received, Receiver
from tests.support.records import BAIYUN, FURONG, TONGDE, XINSHI
from tests.support.routing import case_of, sent
from tests.support.system import System, build_system, destroy_system
from tests.support.waiting import eventually

SHANGHAI = ZoneInfo("Asia/Shanghai")
FRIDAY = datetime(2026, 12, 4, 10, tzinfo=SHANGHAI)
NATIONAL = "national-exchange"
FAST_PUSH = {"NOTIFICATION_POLL_INTERVAL_S": "0.2", "NOTIFICATION_RETRY_BASE_S": "0.2"}


def routing_settings(system: System) -> RoutingSettings:
    env = system.env
    common = (
        "KAFKA_BOOTSTRAP_SERVERS",
        "POPFLOW_TOPIC_PREFIX",
        "POPFLOW_TOPIC_PARTITIONS",
        "POPFLOW_PERSON_KEY_SECRET",
        "POPFLOW_DATA_KEYS",
        "POPFLOW_KEYS_DATABASE_URL",
    )
    values: dict[str, Any] = {name: env[name] for name in common}
    values.update(
        POPFLOW_TIMEZONE="Asia/Shanghai",
        port=system.ports["routing"],
        database_url=env["ROUTING_DATABASE_URL"],
        reminder_working_days=3,
        reminder_interval_s=0.2,
    )
    return RoutingSettings(**values)


@pytest.fixture(scope="module")
async def clock() -> FixedClock:
    return FixedClock(FRIDAY)


@pytest.fixture(scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory, clock: FixedClock) -> AsyncIterator[System]:
    running = await build_system(Path(tmp_path_factory.mktemp("logs")), FAST_PUSH)
    try:
        running.start_together("intake", "notification")
        app = create_app(routing_settings(running), clock=clock)
        async with served(app, running.ports["routing"]):
            yield running
    finally:
        await destroy_system(running)


@pytest.fixture(scope="module")
async def admin(system: System) -> str:
    return await system.create_key("admin")


async def submit(client: httpx.AsyncClient, system: System, admin: str, body: dict[str, Any]) -> str:
    response = await client.post(system.url("intake") + "/v1/records", json=body, headers=bearer(admin))
    assert response.status_code == 202, response.text
    return str(response.json()["record_id"])


async def inbox(client: httpx.AsyncClient, system: System, admin: str, code: str) -> list[dict[str, Any]]:
    response = await client.get(
        system.url("notification") + f"/v1/inbox/{code}", params={"limit": 500}, headers=bearer(admin)
    )
    assert response.status_code == 200, response.text
    notices: list[dict[str, Any]] = response.json()["notices"]
    return notices


async def notices_in(
    client: httpx.AsyncClient, system: System, admin: str, code: str, record_id: str, kind: str
) -> list[dict[str, Any]]:
    return [n for n in await inbox(client, system, admin, code) if n["record_id"] == record_id and n["kind"] == kind]


async def pushed_of(hook: Receiver, notice_id: str) -> Received | None:
    return hook.delivered().get(notice_id)


async def case_when(client: httpx.AsyncClient, system: System, record_id: str, **expected: Any) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        case = await case_of(client, system.url("routing"), record_id, await system.admin_headers())
        return case if case and all(case[k] == v for k, v in expected.items()) else None

    found: dict[str, Any] = await eventually(probe)
    return found


async def test_an_outflow_to_another_street_tells_the_new_street_and_the_registration_place(
    system: System, admin: str
) -> None:
    inflow = records.record(reporting_street=TONGDE, residence_street=TONGDE, sequence=201)
    outflow = records.record(reporting_street=TONGDE, residence_street=TONGDE, sequence=201, event="outflow")
    outflow["new_residence"] = {"street": XINSHI, "address": "新市街 12 号"}
    async with httpx.AsyncClient(timeout=10) as client:
        first = await submit(client, system, admin, inflow)
        await case_when(client, system, first, status="filed")
        moved = await submit(client, system, admin, outflow)

        case = await case_when(client, system, moved, status="inflow_then_outflow")
        assert (case["route"], case["residence_street"]) == ("cross-street", XINSHI)
        assert sent(case) == {("transfer", XINSHI, None), ("registration", FURONG, NATIONAL)}
        await case_when(client, system, first, status="inflow_then_outflow")

        [transfer] = await eventually(functools.partial(notices_in, client, system, admin, XINSHI, moved, "transfer"))
        assert transfer["person"]["residence_address"] == "新市街 12 号"
        [told] = await eventually(functools.partial(notices_in, client, system, admin, FURONG, moved, "registration"))
        assert TONGDE in told["reason"]
        assert XINSHI in told["reason"]


@pytest.mark.parametrize(
    ("residence", "recipients"),
    [
        (XINSHI, {("change", FURONG, NATIONAL), ("change", XINSHI, None)}),
        (TONGDE, {("change", FURONG, NATIONAL)}),
    ],
)
async def test_a_change_tells_the_registration_place_and_another_residence_street(
    system: System, admin: str, residence: str, recipients: set[tuple[str, str, str | None]]
) -> None:
    sequence = 211 if residence == XINSHI else 213
    body = records.record(reporting_street=TONGDE, residence_street=residence, sequence=sequence, event="change")
    async with httpx.AsyncClient(timeout=10) as client:
        record_id = await submit(client, system, admin, body)
        case = await case_when(client, system, record_id, status="filed")
        assert sent(case) == recipients
        for _, code, _ in recipients:
            await eventually(functools.partial(notices_in, client, system, admin, code, record_id, "change"))
        assert await notices_in(client, system, admin, TONGDE, record_id, "change") == []


async def test_a_notice_says_what_it_expects_and_its_recipient_may_open_the_record_behind_it(
    system: System, admin: str, clock: FixedClock
) -> None:
    xinshi, tongde = await system.create_key(f"street:{XINSHI}"), await system.create_key(f"street:{TONGDE}")
    jingtai = await system.create_key("street:440111001")  # another Baiyun street
    body = records.record(reporting_street=TONGDE, residence_street=XINSHI, sequence=231)
    async with httpx.AsyncClient(timeout=10) as client:
        clock.advance_to(FRIDAY)
        record_id = await submit(client, system, admin, body)
        unrelated = await submit(client, system, admin, records.record(sequence=233))
        [notice] = await eventually(functools.partial(notices_in, client, system, admin, XINSHI, record_id, "transfer"))
        # Friday 4 December: Monday, Tuesday, Wednesday; overdue from Wednesday 00:00 in Shanghai
        assert (notice["answer_expected"], notice["answer_due"]) == (True, "2026-12-08T16:00:00+00:00")

        link = httpx.URL(notice["record_link"])
        assert link.params["notice"] == notice["notice_id"]

        async def opened_with(key: str, path: str, **params: str) -> httpx.Response:
            return await client.get(system.url("intake") + path, params=params, headers=bearer(key))

        opened = await client.get(
            system.url("intake") + link.path, params=link.params, headers=bearer(xinshi) | {"X-Purpose": "verify"}
        )
        assert opened.status_code == 200, opened.text
        shown = opened.json()
        assert (shown["record_id"], shown["notice_id"]) == (record_id, notice["notice_id"])
        assert shown["record"]["person"]["id_number"] == body["person"]["id_number"]
        assert "versions" not in shown

        notice_id = notice["notice_id"]
        assert (await opened_with(xinshi, link.path)).status_code == 404  # no notice: not its record
        assert (await opened_with(jingtai, link.path, notice=notice_id)).status_code == 404  # not its notice
        assert (await opened_with(jingtai, link.path, **dict(link.params))).status_code == 404  # nor its grant
        unrelated_path = f"/v1/records/{unrelated}"
        assert (await opened_with(xinshi, unrelated_path, notice=notice_id)).status_code == 404  # another record
        assert (await opened_with(tongde, link.path, notice=notice_id)).status_code == 200  # the reporter's own

        # once intake has learnt the notice from notices.issued, its own table opens the link, grant or not
        async def opened_by_its_table() -> bool:
            return (await opened_with(xinshi, link.path, notice=notice_id)).status_code == 200

        await eventually(opened_by_its_table)
        stale = await opened_with(xinshi, link.path, notice=notice_id, grant=f"{XINSHI}.retired.{'A' * 43}")
        assert stale.status_code == 200, stale.text

        audit = (await client.get(system.url("intake") + "/v1/audit", headers=bearer(admin))).json()["entries"]
    xinshi_key_id = xinshi.split("_")[1]
    reads = [(e["action"], e["purpose"]) for e in audit if e["key_id"] == xinshi_key_id and e["action"] != "refused"]
    by_notice = f"notice {notice['notice_id']}"
    assert sorted(reads) == sorted([("read-by-notice", f"{by_notice}: verify"), *[("read-by-notice", by_notice)] * 2])
    mine = [e for e in audit if e["key_id"] == xinshi_key_id and e["action"] == "refused"]
    refused = {(tuple(e["record_ids"]), e["purpose"]) for e in mine}
    # without the notice, and the notice with another record: each refusal names the record asked for
    assert {((record_id,), ""), ((unrelated,), by_notice)} <= refused


async def test_a_notice_link_opens_the_moment_it_arrives_before_intake_has_learnt_the_notice(
    system: System, admin: str
) -> None:
    """A recipient's system may follow the link as soon as the push arrives, while intake's
    notices.issued subscriber is a moment behind: the link's grant opens the record alone."""
    xinshi, jingtai = await system.create_key(f"street:{XINSHI}"), await system.create_key("street:440111001")
    async with httpx.AsyncClient(timeout=10) as client:
        record_id = await submit(client, system, admin, records.record(reporting_street=TONGDE, sequence=235))
        other_id = await submit(client, system, admin, records.record(reporting_street=TONGDE, sequence=237))
        unheard_of = str(uuid.uuid4())  # no notices.issued event will ever name it
        grant = grant_for(TEST_KEYRING, notice_id=unheard_of, record_id=record_id, recipient_code=XINSHI)

        async def opened(key: str, record: str, **params: str) -> httpx.Response:
            url = system.url("intake") + f"/v1/records/{record}"
            return await client.get(url, params=params, headers=bearer(key) | {"X-Purpose": "verify"})

        shown = await opened(xinshi, record_id, notice=unheard_of, grant=grant)
        assert shown.status_code == 200, shown.text
        assert (shown.json()["record_id"], shown.json()["notice_id"]) == (record_id, unheard_of)
        assert "versions" not in shown.json()

        assert (await opened(xinshi, record_id, notice=unheard_of)).status_code == 404  # no grant
        assert (await opened(jingtai, record_id, notice=unheard_of, grant=grant)).status_code == 404  # not its office
        assert (await opened(xinshi, other_id, notice=unheard_of, grant=grant)).status_code == 404  # another record
        forged = grant.replace(XINSHI, "440111001", 1)
        assert (await opened(jingtai, record_id, notice=unheard_of, grant=forged)).status_code == 404
        too_long = await opened(xinshi, record_id, notice=unheard_of, grant=grant + "x" * 100)
        assert too_long.status_code == 422, too_long.text

        audit = (await client.get(system.url("intake") + "/v1/audit", headers=bearer(admin))).json()["entries"]
    reads = [(e["action"], e["record_ids"]) for e in audit if e["key_id"] == xinshi.split("_")[1]]
    # newest first: the two links refused (no grant, the grant of another record), the one opened
    assert reads == [("refused", [other_id]), ("refused", [record_id]), ("read-by-notice", [record_id])]
    assert [e["purpose"] for e in audit if e["key_id"] == xinshi.split("_")[1]] == [f"notice {unheard_of}: verify"] * 3


async def test_unanswered_notices_are_reminded_after_n_working_days_and_escalated_after_2n(
    system: System, admin: str, clock: FixedClock
) -> None:
    """N = 3. Notice A is issued on Friday 4 December, B on Monday 7 December.

    A is reminded on Wednesday 9th, B on Thursday 10th; A is escalated on
    Monday 14th, B on Tuesday 15th. Each "not yet" is read right after the
    other notice's follow-up arrived: one pass of the job issues both.
    """
    street, bureau = await system.create_key(f"street:{XINSHI}"), await system.create_key(f"district:{BAIYUN}")
    async with Receiver(SECRET) as street_hook, Receiver(SECRET) as bureau_hook, httpx.AsyncClient(timeout=10) as c:
        assert (await subscribe(c, system, street, XINSHI, street_hook.url)).status_code == 201
        assert (await subscribe(c, system, bureau, BAIYUN, bureau_hook.url)).status_code == 201

        clock.advance_to(FRIDAY)
        a = await submit(c, system, admin, records.record(residence_street=XINSHI, sequence=221))
        await case_when(c, system, a, status="open")
        clock.advance_to(datetime(2026, 12, 7, 9, tzinfo=SHANGHAI))
        b = await submit(c, system, admin, records.record(residence_street=XINSHI, sequence=223))
        await case_when(c, system, b, status="open")

        async def follow_up(code: str, record_id: str, kind: str, hook: Receiver) -> dict[str, Any]:
            [notice] = await eventually(functools.partial(notices_in, c, system, admin, code, record_id, kind))
            assert isinstance(notice, dict)

            pushed = await eventually(functools.partial(pushed_of, hook, notice["notice_id"]))
            assert pushed.verified
            assert (pushed.body["kind"], pushed.body["answer_expected"], pushed.body["answer_due"]) == (
                kind,
                False,
                None,
            )
            return notice

        [transfer] = await eventually(functools.partial(notices_in, c, system, admin, XINSHI, a, "transfer"))
        pushed = await eventually(functools.partial(pushed_of, street_hook, transfer["notice_id"]))
        assert (pushed.body["answer_expected"], pushed.body["answer_due"]) == (True, "2026-12-08T16:00:00+00:00")

        clock.advance_to(datetime(2026, 12, 9, 9, tzinfo=SHANGHAI))
        reminded = await follow_up(XINSHI, a, "reminder", street_hook)
        assert "reminder" in reminded["reason"]
        assert await notices_in(c, system, admin, XINSHI, b, "reminder") == []
        clock.advance_to(datetime(2026, 12, 10, 9, tzinfo=SHANGHAI))
        await follow_up(XINSHI, b, "reminder", street_hook)
        assert await notices_in(c, system, admin, BAIYUN, a, "escalation") == []

        clock.advance_to(datetime(2026, 12, 14, 9, tzinfo=SHANGHAI))
        escalated = await follow_up(BAIYUN, a, "escalation", bureau_hook)
        assert XINSHI in escalated["reason"]
        assert await notices_in(c, system, admin, BAIYUN, b, "escalation") == []
        clock.advance_to(datetime(2026, 12, 15, 9, tzinfo=SHANGHAI))
        await follow_up(BAIYUN, b, "escalation", bureau_hook)
        assert len(await notices_in(c, system, admin, XINSHI, a, "reminder")) == 1
