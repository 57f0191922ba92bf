"""Routing throughput: decisions per second from a pre-filled topic, beside raw aiokafka.

    .venv/bin/python bench/routing_throughput.py [--records 200000] [--partitions 6] [--workers 1]

Needs KAFKA_BOOTSTRAP_SERVERS and POPFLOW_TEST_PG_URL (an admin URL; a fresh
database is created and dropped). Under its own topic prefix it pre-fills
records.submitted with RecordSubmitted events (real codes: Baiyun 440111
reporting, residences in Baiyun, Tianhe 440106, Yuexiu 440104 and Pudong
310115), then in the same run:

1. reads the whole topic with a bare aiokafka consumer (no decoding): the raw rate;
2. starts the routing service as a process (`python -m services.routing`)
   against that prefix and a fresh PostgreSQL database, and counts decisions
   in its database until every record is routed. The rate is taken from the
   first decision to the last, so start-up (migrations, group join) is left out.

Routing does everything it does in production per record: parse and
validate, decide, write case, decision, notices and processed-event row in
one transaction, publish RecordRouted and NoticeIssued (acks=all), commit
the offset. While it runs, a line every 10 s gives the rate and routing's CPU a decision over those 10 s:
the process is runnable all the time, so its rate is its CPU a decision, and that moves by a third from window
to window in one run (docs/performance.md, "Round 58"). Before the last line, where the box's CPU went a
decision (bench/box_share.py): routing, PostgreSQL, the broker, this client and the rest. The last line is
machine-readable.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.box_share import BoxShare, standard_groups  # noqa: E402
from shared.kafka.admin import ensure_topics  # noqa: E402
from shared.kafka.replay import partitions_of  # noqa: E402
from shared.topics import ALL_TOPICS, RECORDS_SUBMITTED  # noqa: E402
from tests.support import kafka  # noqa: E402
from tests.support.infra import (  # noqa: E402
    DATA_KEYS,
    PERSON_KEY_SECRET,
    create_database,
    drop_database,
    kafka_at,
    kafka_options,
    unique_name,
)
from tests.support.processes import cpu_seconds  # noqa: E402
from tests.support.records import record  # noqa: E402
from tests.support.routing import fetch  # noqa: E402
from tests.support.system import free_port, service_command  # noqa: E402

WINDOW_S = 10.0  # a progress line, with the rate and CPU a decision, this often

REPORTING = ["440111005", "440111002", "440111008", "440111014"]
RESIDENCES = [
    *REPORTING,  # same street or cross-street
    "440111010",
    "440106001",  # Tianhe
    "440104001",  # Yuexiu
    "310115005",  # Pudong
]


def envelopes(count: int) -> list[bytes]:
    combos = itertools.cycle(itertools.product(REPORTING, RESIDENCES))
    out = []
    for i in range(count):
        reporting, residence = next(combos)
        body = record(reporting_street=reporting, residence_street=residence, sequence=i % 1000)
        out.append(kafka.submitted(body).model_dump_json().encode())
    return out


async def prefill(bootstrap: str, topic: str, count: int) -> None:
    started = time.perf_counter()
    bodies = envelopes(count)
    producer = AIOKafkaProducer(**kafka_options(bootstrap), linger_ms=50, max_batch_size=512 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, body, key=str(i).encode()) for i, body in enumerate(bodies)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    print(f"pre-filled {count} records in {time.perf_counter() - started:.1f} s", flush=True)


async def raw_consume_rate(bootstrap: str, topic: str, count: int) -> float:
    partitions = await partitions_of(kafka_at(bootstrap), [topic])
    consumer = AIOKafkaConsumer(
        **kafka_options(bootstrap), group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        for tp, offset in (await consumer.beginning_offsets(partitions)).items():
            consumer.seek(tp, offset)
        seen, started = 0, time.perf_counter()
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            seen += sum(len(messages) for messages in batches.values())
        return count / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def routed_rate(
    env: dict[str, str], database_url: str, count: int, log: Path, run: str
) -> tuple[float, float, str]:
    """Decisions per second, CPU milliseconds of the routing process per decision, and where the box's CPU
    went (bench/box_share.py), all from the first decision seen to the last."""
    process = _start_routing(env, log)
    share = BoxShare(
        standard_groups({"routing": process.pid}, databases=run, bootstrap=env["KAFKA_BOOTSTRAP_SERVERS"]),
        by_thread="Kafka",
    )
    try:
        first_at: float | None = None
        first_count, first_cpu = 0, 0.0
        window = (0.0, 0, 0.0)  # when the window began, the decisions and routing's CPU seconds then
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"routing exited ({process.returncode}); see {log}")
            done = await _decisions(database_url)
            now, cpu = time.perf_counter(), cpu_seconds(process.pid)
            if done and first_at is None:
                first_at, first_count, first_cpu = now, done, cpu
                window = (now, done, cpu)
                share.start()
            elif first_at is not None and now - window[0] >= WINDOW_S and done < count:
                print(_window_line(done, count, now - window[0], done - window[1], cpu - window[2]), flush=True)
                window = (now, done, cpu)
            if done >= count:
                assert first_at is not None
                share.stop()
                decided = done - first_count
                return (
                    decided / (now - first_at),
                    (cpu - first_cpu) * 1000 / max(decided, 1),
                    share.line(max(decided, 1), "decision") + "\n" + share.threads_line(max(decided, 1), "decision"),
                )
            await asyncio.sleep(0.5)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _window_line(done: int, count: int, seconds: float, decided: int, cpu_s: float) -> str:
    """Progress, and the rate and routing's CPU a decision over the window just ended."""
    return (
        f"  {done:,} of {count:,} routed; the last {seconds:.0f} s: {decided / seconds:,.0f}/s "
        f"at {cpu_s * 1000 / max(decided, 1):.3f} ms a decision"
    )


def _start_routing(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            service_command("-m", "services.routing"), env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )


async def _decisions(database_url: str) -> int:
    try:
        (row,) = await fetch(database_url, "SELECT count(*) FROM routed_records")
    except Exception:  # not migrated yet
        return 0
    return int(row[0])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument(
        "--workers", type=int, default=1, help="ROUTING_WEB_WORKERS: routing processes, each a consumer group member"
    )
    args = parser.parse_args()
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    run = unique_name("bench")
    prefix = f"{run}."
    await ensure_topics(
        kafka_at(bootstrap), [prefix + t for t in ALL_TOPICS], partitions=args.partitions, replication=1
    )
    await prefill(bootstrap, prefix + RECORDS_SUBMITTED, args.records)

    raw = await raw_consume_rate(bootstrap, prefix + RECORDS_SUBMITTED, args.records)
    print(f"raw aiokafka consume: {raw:,.0f} records/s", flush=True)

    database, keys = f"{run}_routing", f"{run}_keys"
    url = await create_database(database)
    env = {
        **os.environ,
        "POPFLOW_TOPIC_PREFIX": prefix,
        "POPFLOW_TOPIC_PARTITIONS": str(args.partitions),
        "POPFLOW_PERSON_KEY_SECRET": PERSON_KEY_SECRET,
        "POPFLOW_DATA_KEYS": DATA_KEYS,
        "POPFLOW_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        "ROUTING_DATABASE_URL": url,
        "ROUTING_PORT": str(free_port()),
        "ROUTING_WEB_WORKERS": str(args.workers),
        "ROUTING_REMINDER_INTERVAL_S": "0",
    }
    if args.workers > 1:  # workers share the key store: PostgreSQL, not the default SQLite file
        env["POPFLOW_KEYS_DATABASE_URL"] = await create_database(keys)
    try:
        log = Path(tempfile.gettempdir()) / f"{run}-routing.log"
        routed, cpu_ms, box = await routed_rate(env, url, args.records, log, run)
    finally:
        await drop_database(database)
        if args.workers > 1:
            await drop_database(keys)
    print(f"routing service: {routed:,.0f} decisions/s over {args.records} records, {cpu_ms:.3f} ms CPU each")
    print(box)
    print(
        f"routed_per_s={routed:.0f} raw_consume_per_s={raw:.0f} ratio={routed / raw:.4f} "
        f"cpu_ms_per_decision={cpu_ms:.3f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
