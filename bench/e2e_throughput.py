"""Walking-skeleton throughput: records per second from the first POST to the last
record counted by reporting, beside the raw rate of producing the same events
to Kafka with aiokafka alone.

    bench/e2e_throughput.py --start            # a private system (make bench)
    bench/e2e_throughput.py --start --sqlite   # the same on SQLite stores, as `make run-sqlite` keeps them
    bench/e2e_throughput.py --intake URL --reporting URL --api-key KEY   # a running one

Before it, where the box's CPU went a record (bench/box_share.py): each service, PostgreSQL, the broker,
this client and the rest.

Last line: e2e_records_per_s=<x> raw_produce_per_s=<y> ratio=<x/y>
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.box_share import BoxShare, standard_groups
from bench.load import hammer, post_requests
from shared.directory import load_directory
from shared.events import CaseRecord, RecordSubmitted, new_envelope
from shared.identity import person_key
from tests.support.infra import TEST_KEYRING, kafka_options
from tests.support.records import BAIYUN, record
from tests.support.system import SERVICES, System, build_system, destroy_system

OBSERVED = "2026-02-25T10:30:00+08:00"  # one report week: 2026-W09 (intake refuses observations in the future)
WEEK = "2026-W09"


def workload(count: int) -> list[dict[str, Any]]:
    """`count` records spread over every street of Baiyun, all three routes."""
    streets = load_directory().streets_of(BAIYUN)
    bodies = []
    for i in range(count):
        reporting = streets[i % len(streets)]
        residence = streets[(i * 7 + i // len(streets)) % len(streets)] if i % 3 else reporting
        if i % 10 == 9:
            residence = "440106001"  # a tenth live in Tianhe: inter-district
        bodies.append(
            record(reporting_street=reporting, residence_street=residence, sequence=i % 1000, observed_at=OBSERVED)
        )
    return bodies


async def post_all(intake: str, key: str | None, bodies: list[dict[str, Any]], concurrency: int) -> float:
    """POST every record with the lean client (bench/load.py): httpx's CPU per request would
    make the client, not PopFlow, the bottleneck on a 2-core machine."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    url = httpx.URL(intake)
    host, port = url.host, url.port or 80
    requests = post_requests(host, port, "/v1/records", bodies, headers)
    started = time.perf_counter()
    result = await hammer(host, port, requests, concurrency=concurrency)
    if set(result.statuses) != {202}:
        raise RuntimeError(f"POSTs answered {result.statuses}, not all 202")
    return started


async def counted(reporting: str, key: str | None) -> int:
    """Records of the week counted by reporting for the district (one query, not one per street)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(
            f"{reporting}/v1/reports/weekly", params={"district": BAIYUN, "week": WEEK}, headers=headers
        )
        response.raise_for_status()
        return sum(response.json()["routes"].values())


async def wait_counted(reporting: str, key: str | None, expected: int, baseline: int, within: float) -> float:
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        done = await counted(reporting, key) - baseline
        print(f"  counted by reporting: {done}/{expected}", file=sys.stderr)
        if done >= expected:
            return time.perf_counter()
        await asyncio.sleep(0.5)
    raise TimeoutError(f"reporting counted fewer than {expected} records within {within} s")


async def raw_produce(bootstrap: str, bodies: list[dict[str, Any]]) -> float:
    """The same events, enveloped and keyed as intake does, straight to a scratch topic."""
    secret = b"bench"
    envelopes = []
    for body in bodies:
        record_id = str(uuid.uuid4())
        event = RecordSubmitted(
            record_id=record_id, received_at=datetime.now(UTC), record=CaseRecord.model_validate(body)
        )
        envelope = new_envelope(event, producer="bench", correlation_id=record_id, keyring=TEST_KEYRING)
        key = person_key(body["person"]["id_number"], secret).encode()
        envelopes.append((key, envelope.model_dump_json().encode()))
    topic = f"bench.{secrets.token_hex(4)}.records.submitted"
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap))
    await admin.start()
    await admin.create_topics([NewTopic(topic, 6, 1)])
    producer = AIOKafkaProducer(**kafka_options(bootstrap), enable_idempotence=True, acks="all", linger_ms=5)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, value, key=key) for key, value in envelopes]
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()
    return len(envelopes) / elapsed


async def start_system(*, sqlite: bool = False) -> tuple[System, str]:
    """A private system; with `sqlite`, its stores (the key store's too) are SQLite files, as `make run-sqlite`'s."""
    system = await build_system(Path(tempfile.mkdtemp(prefix="popflow-bench-")))
    if sqlite:
        folder = system.log_dir / "stores"
        system.env["POPFLOW_KEYS_DATABASE_URL"] = f"sqlite+aiosqlite:///{folder}/keys.db"
        for service in SERVICES:
            system.env[f"{service.upper()}_DATABASE_URL"] = f"sqlite+aiosqlite:///{folder}/{service}.db"
    for service in SERVICES:
        system.start(service, wait=False)
    for service in SERVICES:
        system.wait_ready(service)
    return system, await system.create_key("admin", label="bench")


def box_share(system: System | None, bootstrap: str) -> BoxShare:
    """Where the box's CPU goes while records are posted and followed: each service (of a private system)
    apart; with services started elsewhere they and their databases are `other`."""
    services = {name: process.pid for name, process in system.processes.items()} if system else {}
    return BoxShare(
        standard_groups(services, databases=system.run_id if system else "-", bootstrap=bootstrap), by_thread="Kafka"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--records", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--start", action="store_true", help="start a private system (needs make test's infra)")
    parser.add_argument("--sqlite", action="store_true", help="with --start: its stores on SQLite (the local run's)")
    parser.add_argument("--intake", default="http://127.0.0.1:8001")
    parser.add_argument("--reporting", default="http://127.0.0.1:8004")
    parser.add_argument("--api-key", default=os.environ.get("POPFLOW_API_KEY"))
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    system = None
    if args.start:
        system, args.api_key = await start_system(sqlite=args.sqlite)
        args.intake, args.reporting = system.url("intake"), system.url("reporting")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    try:
        bodies = workload(args.records)
        baseline = await counted(args.reporting, args.api_key)
        share = box_share(system, bootstrap).start()
        started = await post_all(args.intake, args.api_key, bodies, args.concurrency)
        posted = time.perf_counter()
        print(f"posted {len(bodies)} records in {posted - started:.1f} s", file=sys.stderr)
        finished = await wait_counted(args.reporting, args.api_key, len(bodies), baseline, args.timeout)
        share.stop()
        print(share.line(len(bodies), "record"))
        print(share.threads_line(len(bodies), "record"))
        e2e_rate = len(bodies) / (finished - started)
        raw_rate = await raw_produce(bootstrap, bodies)
    finally:
        if system is not None:
            await destroy_system(system)
    print(f"records={len(bodies)} post_phase_s={posted - started:.1f} e2e_s={finished - started:.1f}")
    print(f"e2e_records_per_s={e2e_rate:.0f} raw_produce_per_s={raw_rate:.0f} ratio={e2e_rate / raw_rate:.4f}")


if __name__ == "__main__":
    asyncio.run(main())
