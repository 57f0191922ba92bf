"""Two replicas of every service on one Kafka and one PostgreSQL; one of each SIGKILLed mid-stream.

The client posts a steady stream of records, each with its own
Idempotency-Key, to whichever intake replica is alive, and sends a request
again (same key) when its replica dies under it, as an integrator would.
A third of the way in, the replica of each service that leads its
deployment-wide work (the outbox relays) is killed. Afterwards: every record
stored once and routed once, every notice in routing's store pushed to the
webhook (again only if it was in flight in the killed notification, with the
same id), and the weekly report counting each record once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support import outcomes
from tests.support.notification_client import SECRET, subscribe_all
from tests.support.receivers import Receiver
from tests.support.records import TONGDE, record
from tests.support.replicas import Client, leaders, led_by, pid_of, start_two_of_each
from tests.support.system import SERVICES, System, build_system, destroy_system
from tests.support.waiting import eventually

RECORDS = 450
RATE = 25  # records per second: a steady stream, well under what two replicas take
# cross-street records (one notice each, to the residence street) and same-street ones (none)
NEIGHBOURS = ["440111002", "440111008", "440111014"]
RESIDENCES = [TONGDE, *NEIGHBOURS]
IN_FLIGHT = 4  # pushes one notification replica has in flight at most: the most that can go twice
# eight service processes start before the test: on a loaded 2-core machine that alone takes minutes
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
async def replicated(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    system = await build_system(
        Path(tmp_path_factory.mktemp("logs")),
        {
            "NOTIFICATION_MAX_CONCURRENT_DELIVERIES": str(IN_FLIGHT),
            # a push the killed replica had claimed is due again this much after its push time, not 30 s
            "NOTIFICATION_CLAIM_MARGIN_S": "3",
        },
    )
    try:
        start_two_of_each(system)
        yield system
    finally:
        await destroy_system(system)


async def kill_leaders(system: System, client: Client, on_third: asyncio.Event) -> dict[str, set[str]]:
    await on_third.wait()
    before = {service: await leaders(system, service) for service in ("intake", "notification")}
    for service in SERVICES:
        if service == "intake":
            client.live.remove("intake")
        system.kill(service)
    return before


async def test_every_record_routed_once_every_notice_pushed_every_count_right(replicated: System) -> None:
    system = replicated
    admin = await system.admin_headers()
    first = {service: pid_of(system, service) for service in SERVICES}
    bodies = [
        record(reporting_street=TONGDE, residence_street=RESIDENCES[i % len(RESIDENCES)], sequence=i)
        for i in range(RECORDS)
    ]
    async with Receiver(SECRET) as receiver, httpx.AsyncClient(timeout=10) as http:
        await subscribe_all(http, system, admin, NEIGHBOURS, receiver.url)
        client, on_third = Client(system, admin, live=["intake", "intake-2"]), asyncio.Event()
        load = outcomes.steady_load(client, bodies, rate=RATE, on_third=on_third, keys="replica-test")
        _, before = await asyncio.gather(load, kill_leaders(system, client, on_third))
        # the killed replicas led the relays; the survivors took over
        for service in ("intake", "notification"):
            assert any(name.endswith(first[service]) for name in before[service]), (service, before[service])

        print(f"posted {RECORDS} records, {client.resent} sent again", flush=True)
        records = await eventually(lambda: outcomes.stored(system, RECORDS), within=120)
        routed = await eventually(lambda: outcomes.routed(system, RECORDS), within=180)
        print("all routed", flush=True)
        expected_notices = sum(1 for body in bodies if body["residence"]["street"] != TONGDE)
        notices = await eventually(lambda: outcomes.notices(system, expected_notices), within=120)
        await eventually(lambda: outcomes.all_delivered(receiver, notices), within=180)
        # and recorded so: what the killed replica pushed without recording it is pushed again by now, and counted
        await eventually(lambda: outcomes.all_recorded_delivered(system, notices), within=120)
        print("all notices pushed", flush=True)
        report = await eventually(
            lambda: outcomes.counted(http, system, admin, RECORDS, reporting="reporting-2"), within=180
        )

    assert set(client.answers.values()) == records  # one record per idempotency key, however often sent
    assert len(records) == RECORDS
    assert set(routed) == records
    pushes = Counter(r.notice_id for r in receiver.received if r.verified and r.answered == 200)
    twice = [notice for notice, count in pushes.items() if count > 1]
    assert set(pushes) == notices
    assert len(twice) <= IN_FLIGHT, f"{len(twice)} notices pushed twice; only the killed replica's in-flight may be"
    assert {route: n for route, n in report["routes"].items() if n} == dict(Counter(routed.values()))
    assert report["records"] == RECORDS
    for service in ("intake", "notification"):  # the survivor leads now
        assert await led_by(system, service, f"{service}-2"), service
    print(f"re-sent {client.resent} requests; {len(twice)} notices pushed twice")
