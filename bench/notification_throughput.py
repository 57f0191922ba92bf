"""Notification benchmark: record POST to webhook arrival, and push throughput.

Starts what it needs, like the e2e tests (tests/support/system.py): intake,
routing and notification as processes on the Kafka and PostgreSQL named by
KAFKA_BOOTSTRAP_SERVERS and POPFLOW_TEST_PG_URL (fresh topics and databases,
dropped afterwards), plus one webhook receiver on 127.0.0.1 in this process.

1. Latency: cross-street records (同德 → 新市) POSTed to intake at a steady
   RATE per second for SECONDS; each notice's webhook arrival is matched to
   its record's POST time: p50/p99 of POST → arrival.
2. Throughput: BURST notices published straight onto notices.issued for
   RECIPIENTS streets sharing the receiver; notices delivered per second =
   BURST / (last arrival - first arrival). This isolates notification from
   intake and routing.

    .venv/bin/python bench/notification_throughput.py [--rate 200] [--seconds 30] [--burst 3000] [--recipients 20]
        [--no-pg-ssl]

The last line is `notices_per_s=<x> post_to_webhook_p50_ms=<y> post_to_webhook_p99_ms=<z>`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from aiokafka import AIOKafkaProducer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load import hammer, post_requests
from shared.events import NoticePerson, new_envelope
from shared.events import Route as NoticeRoute
from shared.topics import NOTICES_ISSUED
from tests.support import records
from tests.support.infra import TEST_KEYRING, kafka_connection
from tests.support.notices import issued_notice
from tests.support.system import System, build_system, destroy_system, free_port

SECRET = "whsec_" + base64.b64encode(b"benchmark-shared-secret-0123456").decode()  # a throwaway receiver's


class Arrivals:
    """The receiver: 204 to everything, remembering when each notice arrived (perf_counter)."""

    def __init__(self) -> None:
        self.by_record: dict[str, float] = {}
        self.issued: dict[str, float] = {}  # record id: when routing issued its notice, on the perf_counter clock
        self.burst: list[float] = []
        self._wall_to_perf = time.perf_counter() - time.time()

    async def hook(self, request: Request) -> Response:
        arrived = time.perf_counter()
        body = json.loads(await request.body())
        if body["recipient_code"] != records.XINSHI:  # the throughput phase's streets
            self.burst.append(arrived)
        elif body["record_id"] not in self.by_record:
            self.by_record[body["record_id"]] = arrived
            issued = datetime.fromisoformat(body["issued_at"]).timestamp()
            self.issued[body["record_id"]] = issued + self._wall_to_perf
        return Response(status_code=204)


async def serve_receiver(arrivals: Arrivals, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    app = Starlette(routes=[Route("/hook", arrivals.hook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for "started"
        await asyncio.sleep(0.05)
    return server, task


def record_body(n: int) -> dict[str, object]:
    body = records.record(reporting_street=records.TONGDE, residence_street=records.XINSHI, name="测试")
    born = date(1980, 1, 1) + timedelta(days=n // 500)
    body["person"]["id_number"] = records.id_number(born=born, sequence=n % 500 * 2)
    return body


async def steady_posts(
    system: System, key: str, rate: float, seconds: float, first: int = 0, senders: int = 32
) -> dict[str, float]:
    """POST rate*seconds records on a fixed schedule; {record_id: perf_counter just before its POST}.

    The lean client (bench/load.py) over `senders` keep-alive connections takes the
    records in schedule order; when intake falls behind, posts start late rather than
    queueing without bound (and the latency is still measured from the actual POST).
    """
    posted: dict[str, float] = {}
    url = httpx.URL(system.url("intake"))
    host, port = url.host, url.port or 80
    bodies = [record_body(first + n) for n in range(int(rate * seconds))]
    requests = post_requests(host, port, "/v1/records", bodies, {"Authorization": f"Bearer {key}"})

    def answered(_: int, sent: float, status: int, body: bytes) -> None:
        if status == 202:
            posted[json.loads(body)["record_id"]] = sent

    await hammer(host, port, requests, concurrency=senders, rate=rate, answered=answered)
    return posted


async def publish_burst(system: System, count: int, recipients: list[str]) -> None:
    producer = AIOKafkaProducer(**kafka_connection(system.env).options(), linger_ms=5)
    await producer.start()
    topic = system.env["POPFLOW_TOPIC_PREFIX"] + NOTICES_ISSUED
    try:
        for n in range(count):
            notice = issued_notice(
                notice_id=str(uuid.uuid4()),
                record_id=str(uuid.uuid4()),
                recipient_code=recipients[n % len(recipients)],
                route=NoticeRoute.CROSS_STREET,
                reason="person lives in your street; please verify",
                person=NoticePerson(name="测试", id_number=records.id_number(sequence=n % 999), residence_address="x"),
                issued_at=datetime.now(UTC),
            )
            envelope = new_envelope(notice, producer="bench", correlation_id=notice.record_id, keyring=TEST_KEYRING)
            await producer.send(topic, envelope.model_dump_json().encode(), key=notice.notice_id.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def point_webhooks(system: System, key: str, streets: list[str], port: int) -> None:
    """Every street's webhook at the receiver on `port`."""
    async with httpx.AsyncClient(base_url=system.url("notification"), timeout=10) as client:
        for street in streets:
            response = await client.put(
                f"/v1/recipients/{street}/webhook",
                json={"url": f"http://127.0.0.1:{port}/hook", "secret": SECRET},
                headers={"Authorization": f"Bearer {key}"},
            )
            response.raise_for_status()


async def tear_down(server: uvicorn.Server, server_task: asyncio.Task[None], system: System) -> None:
    """The receiver stopped, the services stopped and their databases dropped."""
    server.should_exit = True
    await server_task
    try:
        await destroy_system(system)
    except Exception as error:  # never lose the figures to a clean-up problem
        print(f"clean-up incomplete (run {system.run_id}): {type(error).__name__}", file=sys.stderr)


async def wait_for(condition: Callable[[], bool], within: float) -> None:
    deadline = time.perf_counter() + within
    while not condition() and time.perf_counter() < deadline:  # noqa: ASYNC110 - polling a counter
        await asyncio.sleep(0.2)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def main(rate: float, seconds: float, burst: int, recipient_count: int, pg_ssl: bool) -> None:
    system = await build_system(Path(tempfile.mkdtemp(prefix="bench-logs-")))
    if not pg_ssl:  # asyncpg negotiates TLS even on 127.0.0.1 unless told not to
        for name in [n for n in system.env if n.endswith("DATABASE_URL")]:
            system.env[name] += "?ssl=disable"
    print(f"run {system.run_id}, service logs in {system.log_dir}", flush=True)
    arrivals, port = Arrivals(), free_port()
    server, server_task = await serve_receiver(arrivals, port)
    try:
        system.start("intake")
        for service in ("routing", "notification"):
            system.start(service)
        key = await system.create_key("admin")
        streets = [records.XINSHI] + [f"440111{200 + i:03d}" for i in range(recipient_count)]
        await point_webhooks(system, key, streets, port)

        # warm-up: one record all the way through, so consumer groups are assigned before measuring
        warm = await steady_posts(system, key, rate=1, seconds=1, first=10_000)
        await wait_for(lambda: all(r in arrivals.by_record for r in warm), within=120)
        arrivals.by_record.clear()

        print(f"latency phase: {rate:g} records/s for {seconds:g} s ...", flush=True)
        posted = await steady_posts(system, key, rate, seconds)
        await wait_for(lambda: all(r in arrivals.by_record for r in posted), within=900)
        latencies = [(arrivals.by_record[r] - t) * 1000 for r, t in posted.items() if r in arrivals.by_record]
        drained = max(arrivals.by_record.values()) - min(posted.values())
        print(f"  posted {len(posted)}, arrived {len(latencies)}; last arrival {drained:.1f} s after the first POST")
        # the two legs: intake, its relay and routing up to the notice; routing's relay, notification and the push
        routed = [(arrivals.issued[r] - t) * 1000 for r, t in posted.items() if r in arrivals.issued]
        pushed = [(arrivals.by_record[r] - arrivals.issued[r]) * 1000 for r in posted if r in arrivals.issued]
        for leg, values in (("POST to notice issued", routed), ("notice issued to webhook", pushed)):
            print(f"  {leg}: p50 {percentile(values, 50):.1f} ms, p99 {percentile(values, 99):.1f} ms")

        print(f"throughput phase: {burst} notices to {recipient_count} streets ...", flush=True)
        await publish_burst(system, burst, streets[1:])
        await wait_for(lambda: len(arrivals.burst) >= burst, within=900)
        span = max(arrivals.burst) - min(arrivals.burst) if len(arrivals.burst) > 1 else float("nan")
        per_s = len(arrivals.burst) / span
        print(f"  delivered {len(arrivals.burst)} of {burst} in {span:.2f} s", flush=True)
    finally:
        await tear_down(server, server_task, system)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(f"notices_per_s={per_s:.1f} post_to_webhook_p50_ms={p50:.1f} post_to_webhook_p99_ms={p99:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--burst", type=int, default=3000)
    parser.add_argument("--recipients", type=int, default=20)
    parser.add_argument("--no-pg-ssl", action="store_true", help="services talk to PostgreSQL without TLS")
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.seconds, args.burst, args.recipients, pg_ssl=not args.no_pg_ssl))
