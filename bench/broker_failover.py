"""What losing a Kafka broker costs: POST → webhook on a three-broker cluster, one broker SIGKILLed mid-stream.

Starts its own cluster (deploy/kafka/cluster.sh: three KRaft nodes, each a
broker and a controller, on this machine) and intake, routing and notification
on it, with the PostgreSQL named by POPFLOW_TEST_PG_URL (fresh databases,
dropped afterwards); topics with three copies, two in sync. Cross-street
records go to intake at a steady RATE for SECONDS; at KILL_AT seconds the
broker coordinating the consumer groups (and leading a third of the
partitions) is SIGKILLed. Each notice's
webhook arrival is matched to its record's POST: the latency of the records
posted before the kill, the slowest of each second's records, and how long after the kill
the records took more than a second again (the fail-over: the brokers notice
the loss, leaders and a coordinator are elected again, producers and consumers
find them). Every record must arrive once.

    bash deploy/with-infra.sh .venv/bin/python bench/broker_failover.py [--rate 50] [--seconds 60] [--kill-at 20]

(with-infra.sh starts PostgreSQL and a single test broker; the benchmark uses the PostgreSQL and its own
cluster.) The brokers' settings
can be changed for a run, one property a line:
KAFKA_EXTRA_PROPERTIES=$'broker.session.timeout.ms=3000\nbroker.heartbeat.interval.ms=500'.

The last line is
`failover_max_ms=<x> recovered_s=<s> steady_p99_ms=<y> lost=<n> twice=<m>`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.notification_throughput import (
    Arrivals,
    percentile,
    point_webhooks,
    serve_receiver,
    steady_posts,
    tear_down,
    wait_for,
)
from tests.support import records
from tests.support.kafka_cluster import coordinator, kafka_cluster
from tests.support.system import build_system, free_port


class CountedArrivals(Arrivals):
    """Arrivals that also count each record's pushes: a second one is a notice pushed twice."""

    def __init__(self) -> None:
        super().__init__()
        self.pushes: Counter[str] = Counter()

    async def hook(self, request: Request) -> Response:
        self.pushes[json.loads(await request.body())["record_id"]] += 1
        return await super().hook(request)


def figures(latencies: list[float]) -> str:
    if not latencies:
        return "none"
    return f"{len(latencies)} records, p50 {percentile(latencies, 50):.0f} ms, p99 {percentile(latencies, 99):.0f} ms"


async def main(rate: float, seconds: float, kill_at: float) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as directory, kafka_cluster(Path(directory)) as cluster:
        print(f"cluster up: {cluster.servers}", flush=True)
        system = await build_system(
            Path(tempfile.mkdtemp(prefix="bench-logs-")),
            {"KAFKA_BOOTSTRAP_SERVERS": cluster.servers, "POPFLOW_TOPIC_REPLICATION": "3"},
        )
        print(f"run {system.run_id}, service logs in {system.log_dir}", flush=True)
        arrivals, port = CountedArrivals(), free_port()
        server, server_task = await serve_receiver(arrivals, port)
        try:
            for service in ("intake", "routing", "notification"):
                system.start(service)
            key = await system.create_key("admin")
            await point_webhooks(system, key, [records.XINSHI], port)
            warm = await steady_posts(system, key, rate=1, seconds=1, first=100_000)
            await wait_for(lambda: all(r in arrivals.by_record for r in warm), within=120)
            arrivals.by_record.clear()
            arrivals.pushes.clear()

            victim = await coordinator(cluster)  # the consumer groups' coordinator, and leader of a third

            async def kill_later() -> float:
                await asyncio.sleep(kill_at)
                cluster.kill(victim)
                killed = time.perf_counter()
                print(f"killed broker {victim} at {kill_at:g} s", flush=True)
                return killed

            print(f"{rate:g} records/s for {seconds:g} s; broker {victim} dies at {kill_at:g} s", flush=True)
            posted, killed = await asyncio.gather(steady_posts(system, key, rate, seconds), kill_later())
            await wait_for(lambda: all(r in arrivals.by_record for r in posted), within=600)
        finally:
            await tear_down(server, server_task, system)

    latency = {r: (arrivals.by_record[r] - t) * 1000 for r, t in posted.items() if r in arrivals.by_record}
    lost = len(posted) - len(latency)
    twice = sum(1 for r in posted if arrivals.pushes[r] > 1)
    print(f"  posted {len(posted)}, arrived {len(latency)}, pushed twice {twice}")
    # steady: records that had arrived well before the kill (none of them was caught by it)
    steady = [ms for r, ms in latency.items() if posted[r] < killed - 5]
    start = min(posted.values())
    slowest: dict[int, float] = {}
    for record_id, ms in latency.items():
        second = int(posted[record_id] - start)
        slowest[second] = max(slowest.get(second, 0.0), ms)
    seconds_posted = range(max(slowest) + 1)
    print("  the slowest of each second's records, ms: " + " ".join(f"{slowest.get(s, 0):.0f}" for s in seconds_posted))
    # back to steady: from this second of posting on, no record took more than a second (or twice the steady p99)
    bound = max(1000.0, 2 * percentile(steady, 99))
    killed_second = int(killed - start)
    late = [s for s in seconds_posted if s >= killed_second - 5 and slowest.get(s, 0) > bound]
    recovered = (max(late) + 1 - killed_second) if late else 0
    print(f"  steady before the kill: {figures(steady)}")
    early = [r for r in latency if posted[r] < killed - 5 and r in arrivals.issued]
    for leg, values in (
        ("POST to notice issued", [(arrivals.issued[r] - posted[r]) * 1000 for r in early]),
        ("notice issued to webhook", [(arrivals.by_record[r] - arrivals.issued[r]) * 1000 for r in early]),
    ):
        print(f"    {leg}: {figures(values)}")
    print(
        f"  the slowest record: {max(latency.values()):.0f} ms; "
        f"every record under {bound:.0f} ms from {recovered} s after the kill"
    )
    print(
        f"failover_max_ms={max(latency.values()):.0f} recovered_s={recovered} "
        f"steady_p99_ms={percentile(steady, 99):.0f} lost={lost} twice={twice}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--kill-at", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.seconds, args.kill_at))
