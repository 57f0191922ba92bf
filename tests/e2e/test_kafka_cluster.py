"""The four services on a three-broker Kafka cluster, one broker SIGKILLed mid-stream.

deploy/kafka/cluster.sh starts three KRaft nodes (each a broker and a
controller) on this machine; the services create their topics with three
copies, two of them to be in sync before an event is acknowledged. A steady
stream of records goes in; a third of the way, the broker that coordinates
the consumer groups (and leads a share of the deployment's partitions) is
killed. Its partitions elect new leaders, the groups a new coordinator, the
producers and consumers find them, and afterwards every record is stored and
routed once, every notice pushed once, and the weekly report counts each record
once: the broker's loss lost nothing and did nothing twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import outcomes
from tests.support.kafka_cluster import Cluster, coordinator, deployment_topics, kafka_cluster, leaders, min_in_sync
from tests.support.notification_client import SECRET, subscribe_all
from tests.support.receivers import Receiver
from tests.support.records import TONGDE, record
from tests.support.system import SERVICES, System, build_system, destroy_system
from tests.support.waiting import eventually

NODES = 3
RECORDS = 300
OUTAGE_RECORDS = 40
RATE = 20  # records per second, for 15 s: the kill falls in the middle of a steady stream
NEIGHBOURS = ["440111002", "440111008"]
RESIDENCES = [TONGDE, *NEIGHBOURS]  # same-street records (no notice) and cross-street ones (one notice each)
# three brokers and four services start before the test: on a loaded 2-core machine that takes minutes
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with kafka_cluster(tmp_path_factory.mktemp("cluster"), NODES) as started:
        yield started


@pytest.fixture(scope="module")
async def on_cluster(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    system = await build_system(
        Path(tmp_path_factory.mktemp("logs")),
        {"KAFKA_BOOTSTRAP_SERVERS": cluster.servers, "POPFLOW_TOPIC_REPLICATION": str(NODES)},
    )
    try:
        for service in SERVICES:
            system.start(service, wait=False)
        for service in SERVICES:
            system.wait_ready(service)
        yield system
    finally:
        await destroy_system(system)


class Client:
    """Posts each record with its own Idempotency-Key; a connection that fails is tried again, same key."""

    def __init__(self, system: System, headers: dict[str, str]) -> None:
        self.system, self.headers = system, headers
        self.answers: dict[str, str] = {}
        self.posted_at: dict[str, float] = {}

    async def post(self, http: httpx.AsyncClient, key: str, body: dict[str, Any]) -> None:
        for _attempt in range(10):
            try:
                headers = self.headers | {"Idempotency-Key": key}
                response = await http.post(self.system.url("intake") + "/v1/records", json=body, headers=headers)
            except httpx.TransportError:
                await asyncio.sleep(0.2)
                continue
            assert response.status_code == 202, response.text
            self.answers[key] = response.json()["record_id"]
            self.posted_at[self.answers[key]] = time.monotonic()
            return
        raise AssertionError(f"record {key} not accepted")


async def test_a_broker_killed_mid_stream_loses_nothing_and_does_nothing_twice(
    cluster: Cluster, on_cluster: System
) -> None:
    system = on_cluster
    admin_headers = await system.admin_headers()
    prefix = system.env["POPFLOW_TOPIC_PREFIX"]
    topics = await deployment_topics(cluster, prefix)
    # every topic the services made has three copies and asks for two in sync
    assert {len(partition["replicas"]) for topic in topics for partition in topic["partitions"]} == {NODES}
    in_sync = await min_in_sync(cluster, [topic["topic"] for topic in topics])
    assert set(in_sync.values()) == {"2"}, in_sync
    # the groups' coordinator, which also leads a share of the deployment's partitions
    victim = await coordinator(cluster)
    assert leaders(topics)[victim] > 0, leaders(topics)

    bodies = [
        record(reporting_street=TONGDE, residence_street=RESIDENCES[i % len(RESIDENCES)], sequence=i)
        for i in range(RECORDS)
    ]
    async with Receiver(SECRET) as receiver, httpx.AsyncClient(timeout=10) as http:
        await subscribe_all(http, system, admin_headers, NEIGHBOURS, receiver.url)
        client, on_third = Client(system, admin_headers), asyncio.Event()

        async def kill_the_coordinator() -> float:
            await on_third.wait()
            cluster.kill(victim)
            return time.monotonic()

        load = outcomes.steady_load(client, bodies, rate=RATE, on_third=on_third, keys="cluster-test")
        _, killed_at = await asyncio.gather(load, kill_the_coordinator())

        records = await eventually(lambda: outcomes.stored(system, RECORDS), within=120)
        routed = await eventually(lambda: outcomes.routed(system, RECORDS), within=240)
        expected_notices = sum(1 for body in bodies if body["residence"]["street"] != TONGDE)
        notices = await eventually(lambda: outcomes.notices(system, expected_notices), within=120)
        await eventually(lambda: outcomes.all_delivered(receiver, notices), within=240)
        report = await eventually(lambda: outcomes.counted(http, system, admin_headers, RECORDS), within=240)
        # one broker of three gone for good is no reason for a load balancer to take a service out
        for service in SERVICES:
            ready = await http.get(system.url(service) + "/readyz")
            assert ready.status_code == 200, (service, ready.text)

    assert set(client.answers.values()) == records  # one record per idempotency key
    assert len(records) == RECORDS
    assert set(routed) == records  # each routed, and routed_records holds one row a record
    pushes = Counter(r.notice_id for r in receiver.received if r.verified and r.answered == 200)
    assert set(pushes) == notices
    assert [notice for notice, count in pushes.items() if count > 1] == []  # no notice pushed twice
    assert {route: n for route, n in report["routes"].items() if n} == dict(Counter(routed.values()))
    assert report["records"] == RECORDS

    # the partitions the killed broker led have new leaders among the two left, each still two copies in sync
    after = await deployment_topics(cluster, prefix)
    partitions = [partition for topic in after for partition in topic["partitions"]]
    assert victim not in {partition["leader"] for partition in partitions}
    assert all(len(set(partition["isr"]) - {victim}) >= 2 for partition in partitions), partitions
    posted_after = [at for record_id, at in client.posted_at.items() if at > killed_at]
    assert posted_after, "the kill came after the last record was posted"
    print(f"killed broker {victim}; {len(posted_after)} records posted after it, all routed", flush=True)


async def test_with_two_brokers_down_writes_wait_and_nothing_is_lost_when_they_are_back(
    cluster: Cluster, on_cluster: System
) -> None:
    """Two copies in sync are asked for: with one broker of three left, no event is acknowledged, so
    nothing is published or routed; intake still takes records into its store, and once the brokers are
    back every one of them is routed once and its notice pushed once."""
    system = on_cluster
    admin_headers = await system.admin_headers()
    await cluster.start()  # the broker the test before killed, back on its data
    prefix = system.env["POPFLOW_TOPIC_PREFIX"]
    await eventually(lambda: _all_in_sync(cluster, prefix), within=120)
    bodies = [
        record(reporting_street=TONGDE, residence_street=NEIGHBOURS[i % len(NEIGHBOURS)], sequence=RECORDS + i)
        for i in range(OUTAGE_RECORDS)
    ]
    async with Receiver(SECRET) as receiver, httpx.AsyncClient(timeout=10) as http:
        stored_before = await outcomes.stored(system, 0) or set()
        routed_before = await outcomes.routed(system, 0) or {}
        notices_before = await outcomes.notices(system, 0) or set()
        counted_before = await outcomes.counted(http, system, admin_headers, 0) or {}
        coordinating = await coordinator(cluster)
        another = next(node for node in range(1, NODES + 1) if node != coordinating)
        cluster.kill(coordinating)
        cluster.kill(another)
        await subscribe_all(http, system, admin_headers, NEIGHBOURS, receiver.url)
        client = Client(system, admin_headers)
        await asyncio.gather(*(client.post(http, f"outage-{i}", body) for i, body in enumerate(bodies)))
        new_records = set(client.answers.values())
        assert len(new_records) == OUTAGE_RECORDS  # taken into intake's store with the brokers down
        await asyncio.sleep(10)  # as long as the relay and routing would need to route them on a whole cluster
        assert not new_records & set(await outcomes.routed(system, 0) or {}), "routed with one broker of three"

        await cluster.start()
        routed = await eventually(lambda: outcomes.routed(system, len(routed_before) + OUTAGE_RECORDS), within=240)
        notices = await eventually(lambda: outcomes.notices(system, len(notices_before) + OUTAGE_RECORDS), within=120)
        await eventually(lambda: outcomes.all_delivered(receiver, notices - notices_before), within=240)
        total = len(stored_before) + OUTAGE_RECORDS
        report = await eventually(lambda: outcomes.counted(http, system, admin_headers, total), within=240)

    assert await outcomes.stored(system, 0) == stored_before | new_records
    assert set(routed) == set(routed_before) | new_records  # each once: routed_records has a row a record
    pushes = Counter(r.notice_id for r in receiver.received if r.verified and r.answered == 200)
    assert set(pushes) == notices - notices_before
    assert [notice for notice, count in pushes.items() if count > 1] == []
    assert report["records"] == counted_before.get("records", 0) + OUTAGE_RECORDS


async def _all_in_sync(cluster: Cluster, prefix: str) -> bool:
    topics = await deployment_topics(cluster, prefix)
    return all(len(partition["isr"]) == NODES for topic in topics for partition in topic["partitions"])
