"""Two replicas of each of the four services on a three-broker Kafka cluster; a broker and one replica of
each service SIGKILLed at the same moment mid-stream.

deploy/kafka/cluster.sh starts three KRaft nodes (each a broker and a
controller) on this machine; the services create their topics with three
copies, two of them to be in sync before an event is acknowledged. Two
replicas of every service run on the cluster, as a deployment that grew by
adding them would. A steady stream of records goes in, to whichever intake
replica is alive; a third of the way, the broker that coordinates the
consumer groups (and leads a share of the deployment's partitions) is killed,
and with it the replica of each service that leads its deployment-wide work
(the outbox relays). The partitions elect new leaders, the groups a new
coordinator and then share their partitions among the survivors, the
surviving replicas take the relays over, and afterwards every record is
stored and routed once, every notice pushed (twice only if it was in flight
in the killed notification replica, with the same id), and the weekly report
counts each record once: the losses lost nothing and did nothing twice.

"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import outcomes
from tests.support.kafka_cluster import Cluster, coordinator, deployment_topics, kafka_cluster, leaders, min_in_sync
from tests.support.notification_client import SECRET, subscribe_all
from tests.support.receivers import Receiver
from tests.support.records import TONGDE, record
from tests.support.replicas import Client, led_by, pid_of, start_two_of_each
from tests.support.system import SERVICES, System, build_system, destroy_system
from tests.support.waiting import eventually

NODES = 3
RECORDS = 300
OUTAGE_RECORDS = 40
RATE = 20  # records per second, for 15 s: the kill falls in the middle of a steady stream
IN_FLIGHT = 4  # pushes one notification replica has in flight at most: the most that can go twice
NEIGHBOURS = ["440111002", "440111008"]
RESIDENCES = [TONGDE, *NEIGHBOURS]  # same-street records (no notice) and cross-street ones (one notice each)
# three brokers and eight service processes start before the test: on a loaded 2-core machine that takes minutes
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with kafka_cluster(tmp_path_factory.mktemp("cluster"), NODES) as started:
        yield started


@pytest.fixture(scope="module")
async def on_cluster(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    system = await build_system(
        Path(tmp_path_factory.mktemp("logs")),
        {
            "KAFKA_BOOTSTRAP_SERVERS": cluster.servers,
            "POPFLOW_TOPIC_REPLICATION": str(NODES),
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


async def test_a_broker_and_a_replica_of_each_service_killed_mid_stream_lose_nothing_and_do_nothing_twice(
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
    # the first replicas started first and lead the relays
    for service in ("intake", "notification"):
        assert await led_by(system, service, service), service

    bodies = [
        record(reporting_street=TONGDE, residence_street=RESIDENCES[i % len(RESIDENCES)], sequence=i)
        for i in range(RECORDS)
    ]
    async with Receiver(SECRET) as receiver, httpx.AsyncClient(timeout=10) as http:
        await subscribe_all(http, system, admin_headers, NEIGHBOURS, receiver.url)
        client = Client(system, admin_headers, live=["intake", "intake-2"])
        on_third = asyncio.Event()

        async def kill_at_a_third() -> float:
            await on_third.wait()
            client.live.remove("intake")
            cluster.kill(victim)
            for service in SERVICES:
                system.kill(service)
            return time.monotonic()

        load = outcomes.steady_load(client, bodies, rate=RATE, on_third=on_third, keys="cluster-test")
        _, killed_at = await asyncio.gather(load, kill_at_a_third())

        records = await eventually(lambda: outcomes.stored(system, RECORDS), within=120)
        routed = await eventually(lambda: outcomes.routed(system, RECORDS), within=240)
        expected_notices = sum(1 for body in bodies if body["residence"]["street"] != TONGDE)
        notices = await eventually(lambda: outcomes.notices(system, expected_notices), within=120)
        await eventually(lambda: outcomes.all_delivered(receiver, notices), within=240)
        # and recorded so: what the killed replica pushed without recording it is pushed again by now
        await eventually(lambda: outcomes.all_recorded_delivered(system, notices), within=120)
        report = await eventually(
            lambda: outcomes.counted(http, system, admin_headers, RECORDS, reporting="reporting-2"), within=240
        )
        # one broker of three gone for good is no reason for a load balancer to take a replica out
        for service in SERVICES:
            ready = await http.get(system.url(f"{service}-2") + "/readyz")
            assert ready.status_code == 200, (service, ready.text)

    assert set(client.answers.values()) == records  # one record per idempotency key, however often sent
    assert len(records) == RECORDS
    assert set(routed) == records  # each routed, and routed_records holds one row a record
    pushes = Counter(r.notice_id for r in receiver.received if r.verified and r.answered == 200)
    twice = [notice for notice, count in pushes.items() if count > 1]
    assert set(pushes) == notices
    assert len(twice) <= IN_FLIGHT, f"{len(twice)} notices pushed twice; only the killed replica's in-flight may be"
    assert {route: n for route, n in report["routes"].items() if n} == dict(Counter(routed.values()))
    assert report["records"] == RECORDS
    for service in ("intake", "notification"):  # the survivors lead now
        assert await led_by(system, service, f"{service}-2"), service

    # the partitions the killed broker led have new leaders among the two left, each still two copies in sync
    after = await deployment_topics(cluster, prefix)
    partitions = [partition for topic in after for partition in topic["partitions"]]
    assert victim not in {partition["leader"] for partition in partitions}
    assert all(len(set(partition["isr"]) - {victim}) >= 2 for partition in partitions), partitions
    posted_after = [at for at in client.posted_at.values() if at > killed_at]
    assert posted_after, "the kills came after the last record was posted"
    print(
        f"killed broker {victim} and {', '.join(SERVICES)} ({pid_of(system, 'intake-2')} leads intake now); "
        f"{len(posted_after)} records posted after, {client.resent} requests sent again, "
        f"{len(twice)} notices pushed twice",
        flush=True,
    )


async def test_with_two_brokers_down_writes_wait_and_nothing_is_lost_when_they_are_back(
    cluster: Cluster, on_cluster: System
) -> None:
    """With one node of three left, no event is acknowledged, so nothing is published or routed; intake
    still takes records into its store, and once the nodes are back every one of them is routed once and
    its notice pushed once. The replicas that survived the test before do the work.

    Each node here is a controller too, so two down also take the controllers' quorum with them: the
    writes wait for that as much as for the two copies in sync the topics ask for (which the test before
    reads back from the brokers). Telling the two apart takes brokers and controllers on separate nodes."""
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
        counted_before = await outcomes.counted(http, system, admin_headers, 0, reporting="reporting-2") or {}
        coordinating = await coordinator(cluster)
        another = next(node for node in range(1, NODES + 1) if node != coordinating)
        cluster.kill(coordinating)
        cluster.kill(another)
        await subscribe_all(http, system, admin_headers, NEIGHBOURS, receiver.url, replica="notification-2")
        client = Client(system, admin_headers, live=["intake-2"])
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
        report = await eventually(
            lambda: outcomes.counted(http, system, admin_headers, total, reporting="reporting-2"), within=240
        )

    assert await outcomes.stored(system, 0) == stored_before | new_records
    assert set(routed) == set(routed_before) | new_records  # each once: routed_records has a row a record
    pushes = Counter(r.notice_id for r in receiver.received if r.verified and r.answered == 200)
    assert set(pushes) == notices - notices_before
    assert [notice for notice, count in pushes.items() if count > 1] == []
    assert report["records"] == counted_before.get("records", 0) + OUTAGE_RECORDS


async def _all_in_sync(cluster: Cluster, prefix: str) -> bool:
    topics = await deployment_topics(cluster, prefix)
    return all(len(partition["isr"]) == NODES for topic in topics for partition in topic["partitions"])
