"""Intake throughput: bulk CSV import, single POSTs at saturation, and raw aiokafka beside them.

Starts its own intake (tests/support/system.py: a fresh PostgreSQL database
and topic prefix) on the Kafka and PostgreSQL named by KAFKA_BOOTSTRAP_SERVERS
and POPFLOW_TEST_PG_URL, so it never touches a running `make run`.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:29092 \
    POPFLOW_TEST_PG_URL=postgresql://popflow:popflow@127.0.0.1:5432/postgres \
    .venv/bin/python bench/intake_throughput.py [--rows 100000] [--posts 3000] [--concurrency 32] [--web-workers 1]
        [--pairs 1] [--relay]

`--rows 0` skips the bulk import (and the raw produce beside it): single POSTs only. `--imports 10`
imports --rows ten times, one after another, into the tables the ones before filled (a million rows
arriving in a morning), and prints each import's rate and PostgreSQL's CPU a row.

Last line: bulk_rows_per_s=<a> bulk_published_per_s=<b> bulk_cpu_us_per_row=<g> post_per_s=<c>
    post_p99_ms=<d> anchor_post_per_s=<e> post_ratio=<c/e> post_cpu_ms=<h> raw_produce_per_s=<f>
(g and h: intake's own CPU, its worker processes included, per row and per POST; with --pairs above 1,
    c, e, the ratio and h are the pairs' medians and d the p99 of all their POSTs), with
    bulk_box_us_per_row (the whole box's CPU a row) and, for --imports above 1,
    bulk_last_rows_per_s and bulk_last_pg_us_per_row (the last import's), and with --relay
    relay_published_per_s and relay_box_us_per_event (the outbox relay alone draining a backlog of every row
    stored: one relay leader's capacity)

Beside each rate it prints where the box's CPU went while it ran (bench/box_share.py): intake, its
workers, PostgreSQL, the broker, this client and everything else, per row or per POST.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.box_share import BoxShare, Grouping, postgres_processes, standard_groups
from bench.load import LoadResult, hammer, post_requests
from services.intake.adapters.tables import OutboxRow
from shared.db.outbox_reads import pending
from tests.support.bulk_files import csv_lines
from tests.support.infra import kafka_options
from tests.support.processes import cpu_seconds, family
from tests.support.records import id_number, record
from tests.support.system import System, build_system, destroy_system, free_port

CHUNK = 1 << 16  # the upload's chunk size, as a streaming client sends a file
SUMMARY_TAIL = 1 << 16  # bytes of the answer kept: its last line, the summary, is far shorter
ANCHOR_QUIET_CORES = 0.1  # intake's CPU beside the anchor above which its figure is called into doubt


def people(count: int, *, first_day: int = 0) -> Iterator[dict[str, Any]]:
    """`count` records of distinct persons (1,000 sequence numbers per birth date)."""
    base = record()
    for index in range(count):
        body = copy.deepcopy(base)
        born = date(1970, 1, 1) + timedelta(days=first_day + index // 1000)
        body["person"]["id_number"] = id_number(born=born, sequence=index % 1000)
        yield body


async def wait_drained(system: System) -> None:
    """Polls the database: the relay runs in another process, no event of ours can tell us.

    Every 20 ms, on one connection, with the relay's own condition (read from its index, so the poll
    does not scan the published rows): at 10,000 rows/s a 0.2 s poll was up to 2 % of a 100,000-row
    import's published time. A row set aside is a failure of the run, not something to wait for."""
    connection = await intake_database(system)
    try:
        while True:
            if not await connection.fetchval(UNSENT):
                break
            await asyncio.sleep(0.02)
        set_aside = await connection.fetchval("SELECT count(*) FROM outbox WHERE set_aside_at IS NOT NULL")
        assert not set_aside, f"{set_aside} outbox rows set aside"
    finally:
        await connection.close()


async def intake_database(system: System) -> asyncpg.Connection:
    """A plain asyncpg connection to this run's intake database (its URL without SQLAlchemy's driver and query)."""
    url = make_url(system.env["INTAKE_DATABASE_URL"]).set(drivername="postgresql", query={})
    return await asyncpg.connect(url.render_as_string(hide_password=False))


UNSENT = "SELECT EXISTS (SELECT 1 FROM outbox WHERE sent_at IS NULL AND set_aside_at IS NULL)"


async def workers_loaded(system: System) -> None:
    """Wait until intake's bulk workers have loaded (its /readyz says so), as in a service that has run a while:
    until then an import's batches are prepared in process, and the figure would be of a cold start."""
    async with httpx.AsyncClient(base_url=system.url("intake"), timeout=10) as client:
        for _ in range(600):
            workers = (await client.get("/readyz")).json().get("bulk_workers")
            if workers is None or workers["loaded"]:
                return
            await asyncio.sleep(0.1)
    raise RuntimeError("intake's bulk workers did not load within a minute")


async def settled(pid: int, *, quiet_cores: float = 0.05, quiet_for_s: float = 2.0, within_s: float = 60.0) -> float:
    """Wait until intake's processes, its web and bulk workers included, use less than `quiet_cores` for
    `quiet_for_s` on end; the seconds waited. With two web processes /readyz answers from one of them while
    the other (and its bulk worker) may still be loading: that start-up put up to half a millisecond of CPU a
    POST, and a core's worth of load, into the two-process figure. Half a second of quiet was not enough:
    a web process's bulk worker starts loading up to a second after the web process has (round 43 saw the
    anchor share the box with a loading bulk worker, 184 µs of intake's CPU an anchor POST, and the
    two-process ratio read 0.500 where quiet runs read 0.40)."""
    started, quiet = time.monotonic(), 0.0
    while time.monotonic() - started < within_s and quiet < quiet_for_s:
        before = cpu_seconds(pid)
        await asyncio.sleep(0.5)
        quiet = quiet + 0.5 if cpu_seconds(pid) - before < quiet_cores * 0.5 else 0.0
    return round(time.monotonic() - started, 1)


def bulk_file(rows: int, first_day: int = 0) -> bytes:
    """The CSV an integrator uploads, made before the clock starts and outside the box's count: it exists
    before its upload. Made inside the count, its 25-33 us of this client's CPU a row stood in the box's
    figure a row (rounds 26-47), though not in the rate."""
    return b"".join(csv_lines(people(rows, first_day=first_day)))


async def bulk(system: System, headers: dict[str, str], file: bytes, rows: int) -> tuple[float, float, dict[str, int]]:
    """`file` uploaded: the seconds until every row was answered and until every row was published, and the
    summary. The answer's lines (one a row, then the summary) are counted as bytes and the summary alone is
    parsed, which also checks that every row was answered."""
    request_headers = headers | {"Content-Type": "text/csv", "Accept": "application/x-ndjson"}
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=system.url("intake"), timeout=1800) as client:
        body = _async(file[i : i + CHUNK] for i in range(0, len(file), CHUNK))
        async with client.stream("POST", "/v1/records/bulk", content=body, headers=request_headers) as response:
            assert response.status_code == 200, await response.aread()
            tail, lines = b"", 0
            async for chunk in response.aiter_bytes():
                lines += chunk.count(b"\n")
                tail = (tail + chunk)[-SUMMARY_TAIL:]
    accepted_s = time.perf_counter() - started
    last = tail.rstrip(b"\n").rpartition(b"\n")[2]
    assert last.startswith(b'{"summary"'), last[:200]
    assert lines == rows + 1, f"{lines} lines answered for {rows} rows"  # a result a row, then the summary
    summary: dict[str, int] = json.loads(last)["summary"]
    await wait_drained(system)
    published_s = time.perf_counter() - started
    return accepted_s, published_s, summary


async def _async(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def posts(port: int, headers: dict[str, str], bodies: list[dict[str, Any]], concurrency: int) -> LoadResult:
    """Single POSTs at saturation with the lean client (bench/load.py), every one answered 202."""
    requests = post_requests("127.0.0.1", port, "/v1/records", bodies, headers)
    result = await hammer("127.0.0.1", port, requests, concurrency=concurrency)
    assert result.statuses == {202: len(bodies)}, result.statuses
    return result


@contextmanager
def running_anchor() -> Iterator[tuple[int, int]]:
    """The bare FastAPI app (bench/anchor.py) as a process; yields its port and pid once it answers."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(Path(__file__).parent / "anchor.py"), str(port)])
    try:
        for _ in range(300):
            try:
                httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


async def raw_produce(bootstrap: str, prefix: str, count: int) -> float:
    """aiokafka alone, with the relay's settings (idempotent, acks=all) and an envelope-sized value."""
    topic = f"{prefix}bench.raw"
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1)])
    finally:
        await admin.close()
    value = json.dumps({"payload": record(), "padding": "x" * 300}, ensure_ascii=False).encode()
    producer = AIOKafkaProducer(**kafka_options(bootstrap), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, value, key=str(i % 5000).encode()) for i in range(count)]
        await asyncio.gather(*futures)
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()


def days(rows: int) -> int:
    """Birth dates `people(rows)` uses: an import that starts past them holds other persons."""
    return -(-rows // 1000)


def box_groups(system: System, intake: int) -> Grouping:
    """Intake (its workers apart), this run's PostgreSQL databases, its broker, this client, the rest."""
    return standard_groups({"intake": intake}, databases=system.run_id, bootstrap=system.env["KAFKA_BOOTSTRAP_SERVERS"])


async def single_posts(
    system: System,
    intake: int,
    headers: dict[str, str],
    count: int,
    concurrency: int,
    web_workers: int,
    pairs: int,
    first_day: int,
) -> list[str]:
    """`pairs` times the anchor's run, then intake's, on `count` new persons; the last line's POST figures."""
    port = urlsplit(system.url("intake")).port or 80
    rates, anchors, ratios, cpus, latencies = [], [], [], [], []
    with running_anchor() as (anchor_port, anchor):  # same client, bodies and concurrency, same run
        for pair in range(pairs):  # the anchor, then intake, in turn: the box's speed drifts by the minute
            bodies = list(people(count, first_day=first_day + days(count) * pair))
            bare, single, post_cpu_ms = await post_pair(
                system, intake, anchor, anchor_port, port, headers, bodies, concurrency
            )
            label = f" (pair {pair + 1} of {pairs})" if pairs > 1 else ""
            print(
                f"single POST ({web_workers} intake process{'es' if web_workers > 1 else ''}){label}: {count} at "
                f"concurrency {concurrency}: {single.per_s:.0f}/s, p50 {single.percentile_ms(50):.1f} ms, "
                f"p99 {single.percentile_ms(99):.1f} ms, intake CPU {post_cpu_ms:.3f} ms each; "
                f"ratio {single.per_s / bare.per_s:.3f}"
            )
            rates.append(single.per_s)
            anchors.append(bare.per_s)
            ratios.append(single.per_s / bare.per_s)
            cpus.append(post_cpu_ms)
            latencies += single.latencies_s
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    if pairs > 1:
        print(
            f"over the {pairs} pairs: the median ratio {statistics.median(ratios):.3f}, p99 of every POST {p99:.1f} ms"
        )
    return [
        f"post_per_s={statistics.median(rates):.0f}",
        f"post_p99_ms={p99:.1f}",
        f"anchor_post_per_s={statistics.median(anchors):.0f}",
        f"post_ratio={statistics.median(ratios):.3f}",
        f"post_cpu_ms={statistics.median(cpus):.3f}",
    ]


async def post_pair(
    system: System,
    intake: int,
    anchor: int,
    anchor_port: int,
    port: int,
    headers: dict[str, str],
    bodies: list[dict[str, Any]],
    concurrency: int,
) -> tuple[LoadResult, LoadResult, float]:
    """The anchor, then intake, on the same bodies: their results and intake's CPU a POST (ms)."""
    count = len(bodies)
    groups = standard_groups({"anchor": anchor, "intake": intake}, databases="-", bootstrap="-")
    with BoxShare(groups) as anchor_share:
        bare = await posts(anchor_port, headers, bodies, concurrency)
    print(f"bare FastAPI anchor: {bare.per_s:.0f} POST/s, p99 {bare.percentile_ms(99):.1f} ms")
    print(anchor_share.line(count, "anchor POST"))
    intake_busy = sum(us for name, us in anchor_share.per(count).items() if name.startswith("intake"))
    if intake_busy * bare.per_s / 1e6 > ANCHOR_QUIET_CORES:  # intake did work while the anchor ran
        print(
            f"warning: intake was not idle beside the anchor ({intake_busy:.0f} µs of its CPU an anchor "
            "POST): the anchor is slowed and the ratio flattered"
        )
    cpu_before = cpu_seconds(intake)
    with BoxShare(box_groups(system, intake), by_thread="Kafka") as post_share:
        single = await posts(port, headers, bodies, concurrency)
        await wait_drained(system)
    post_cpu_ms = (cpu_seconds(intake) - cpu_before) / count * 1000
    print(post_share.line(count, "POST"))
    print(post_share.threads_line(count, "POST"))
    return bare, single, post_cpu_ms


OUTBOX_UPKEEP = (
    "SELECT autovacuum_count + vacuum_count, n_dead_tup, "
    "(SELECT coalesce(max(age(backend_xmin)), 0) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid()) FROM pg_stat_user_tables WHERE relname = 'outbox'"
)
# what the server did over the whole drain, from counters read before and after it: how the outbox was read
# (sequential scans read every row, published or not; index scans only the index's), the WAL written and the
# pages written whole into it (the first change of a page after a checkpoint), the checkpoints begun
# (pg_stat_bgwriter's counters up to PostgreSQL 16)
SERVER_COUNTERS = (
    "SELECT t.seq_scan, t.seq_tup_read, coalesce(t.idx_scan, 0), coalesce(t.idx_tup_fetch, 0), "
    "w.wal_bytes, w.wal_fpi, b.checkpoints_timed + b.checkpoints_req "
    "FROM pg_stat_user_tables t, pg_stat_wal w, pg_stat_bgwriter b WHERE t.relname = 'outbox'"
)
# the relay's read as PostgreSQL plans it at the drain's start (shared/db/outbox_reads.pending), and the pages
# of the primary key and of the unsent rows' index
RELAY_READ = str(
    pending(OutboxRow, 1000, []).compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})  # type: ignore[no-untyped-call]
)
INDEX_PAGES = "SELECT relname, relpages FROM pg_class WHERE relname IN ('outbox_pkey', 'ix_outbox_unsent_order')"
COUNTER_NAMES = (
    "seq_scans",
    "seq_rows_read",
    "index_scans",
    "index_rows_fetched",
    "wal_mb",
    "wal_full_pages",
    "checkpoints",
)


async def upkeep_during(connection: asyncpg.Connection, done: asyncio.Event) -> str:
    """What PostgreSQL did to the outbox while it drained, sampled every half second: the drains ran 9,000 to
    28,000 rows/s on the same code (docs/performance.md, round 43), which suspected a snapshot held in the
    database keeping the relay's partial index from dropping published rows' entries (round 46's slow drain
    held none). The oldest snapshot's age (transactions), the vacuums of the table, its dead rows at the end,
    and the server's counters over the drain (SERVER_COUNTERS)."""
    vacuums_before, _, _ = await connection.fetchrow(OUTBOX_UPKEEP)
    counters_before = await connection.fetchrow(SERVER_COUNTERS)
    plan = await connection.fetchval(f"EXPLAIN (FORMAT JSON) {RELAY_READ}")
    read_by = json.loads(plan)[0]["Plan"]["Plans"][0]
    pages = dict(await connection.fetch(INDEX_PAGES))
    oldest = 0
    while True:
        vacuums, dead, age = await connection.fetchrow(OUTBOX_UPKEEP)
        oldest = max(oldest, age)
        if done.is_set():
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 0.5)
    await asyncio.sleep(1.1)  # a backend reports its table counters at most once a second (PostgreSQL 15)
    await connection.execute("SELECT pg_stat_clear_snapshot()")
    after = await connection.fetchrow(SERVER_COUNTERS)
    spent = [float(b - a) for a, b in zip(counters_before, after, strict=True)]
    spent[4] /= 1 << 20  # bytes to MiB
    counters = " ".join(f"{name}={value:.0f}" for name, value in zip(COUNTER_NAMES, spent, strict=True))
    return (
        f"outbox_vacuums={vacuums - vacuums_before} outbox_dead_rows={dead} oldest_snapshot_age={oldest} {counters} "
        f"relay_read={read_by['Node Type'].replace(' ', '_')}:{read_by.get('Index Name', '-')} "
        f"relay_read_cost={read_by['Total Cost']:.0f} "
        + " ".join(f"{name}_pages={count}" for name, count in sorted(pages.items()))
    )


async def relay_drain(system: System) -> tuple[int, float, BoxShare]:
    """What one relay leader publishes of a backlog, with nothing else to do: intake stopped, every row of its
    outbox marked unsent again (the events published once more, under the same ids), the table vacuumed (a
    backlog left by a Kafka outage is rows written once, not rows updated), intake started. The rate runs from
    the first row sent to the last (`sent_at`), the box's CPU from the first row seen sent to the drain."""
    system.stop("intake")
    connection = await intake_database(system)
    try:
        events = int(
            await connection.fetchval(
                "WITH again AS (UPDATE outbox SET sent_at = NULL WHERE set_aside_at IS NULL RETURNING 1) "
                "SELECT count(*) FROM again"
            )
        )
        await connection.execute("VACUUM ANALYZE outbox")
        system.env["INTAKE_BULK_WORKERS"] = "0"  # their start (a second of CPU each) would overlap the drain
        system.start("intake", wait=False)
        intake = system.processes["intake"].pid
        for _ in range(12_000):  # the relay's first pass, within four minutes of the start
            if await connection.fetchval("SELECT EXISTS (SELECT 1 FROM outbox WHERE sent_at IS NOT NULL)"):
                break
            await asyncio.sleep(0.02)
        done = asyncio.Event()
        watching = await intake_database(system)
        try:
            upkeep = asyncio.create_task(upkeep_during(watching, done))
            with BoxShare(box_groups(system, intake)) as share, BoxShare(postgres_processes(system.run_id)) as server:
                await wait_drained(system)
            done.set()
            print(f"outbox relay's drain, PostgreSQL's upkeep: {await upkeep}")
            print(server.line(events, "event", title="PostgreSQL's CPU by process"))
        finally:
            await watching.close()
        first, last = await connection.fetchrow("SELECT min(sent_at), max(sent_at) FROM outbox")
    finally:
        await connection.close()
    return events, (last - first).total_seconds(), share


def peak_rss_mib(system: System) -> float:
    """The peak resident memory of intake and its descendants (the bulk workers and their forkserver), summed."""
    return sum(_peak_kib(pid) for pid in family(system.processes["intake"].pid)) / 1024


def _peak_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)


async def main(
    rows: int,
    count: int,
    concurrency: int,
    plain_pg: bool,
    web_workers: int,
    imports: int,
    pairs: int,
    relay: bool,
) -> None:
    settings = {"POPFLOW_LOG_LEVEL": "WARNING", "INTAKE_WEB_WORKERS": str(web_workers)}
    system = await build_system(Path(tempfile.mkdtemp(prefix="intake-bench-")), settings)
    if plain_pg:  # loopback PostgreSQL without TLS, as a deployment on one host would run it
        for name in ("INTAKE_DATABASE_URL", "POPFLOW_KEYS_DATABASE_URL"):
            system.env[name] += "?ssl=disable"
    figures: list[str] = []
    try:
        system.start("intake")
        intake = system.processes["intake"].pid
        await workers_loaded(system)
        print(f"intake settled after {await settled(intake)} s")
        headers = {"Authorization": f"Bearer {await system.create_key('admin', label='bench')}"}
        if rows:
            rss_before, cpu_before = peak_rss_mib(system), cpu_seconds(intake)
            file = bulk_file(rows)
            with BoxShare(box_groups(system, intake), by_thread="Kafka") as bulk_share:
                accepted_s, published_s, summary = await bulk(system, headers, file, rows)
            rss_after, bulk_cpu_us = peak_rss_mib(system), (cpu_seconds(intake) - cpu_before) / rows * 1e6
            print(
                f"bulk: {summary} in {accepted_s:.1f} s accepted ({rows / accepted_s:.0f} rows/s), "
                f"{published_s:.1f} s published ({rows / published_s:.0f} rows/s)"
            )
            print(
                f"intake peak RSS (with its bulk workers): {rss_before:.0f} MiB before the bulk import, "
                f"{rss_after:.0f} MiB after"
            )
            # intake's own CPU (its bulk workers included, through publication), steadier than a rate on a shared box
            print(f"intake CPU per bulk row: {bulk_cpu_us:.0f} µs")
            print(bulk_share.line(rows, "bulk row"))
            print(bulk_share.threads_line(rows, "bulk row"))
            figures += [
                f"bulk_rows_per_s={rows / accepted_s:.0f}",
                f"bulk_published_per_s={rows / published_s:.0f}",
                f"bulk_cpu_us_per_row={bulk_cpu_us:.0f}",
                f"bulk_box_us_per_row={bulk_share.per(rows)['box']:.0f}",
            ]
            for number in range(2, imports + 1):  # the same again into the tables the imports before filled
                file = bulk_file(rows, first_day=days(rows) * (number - 1))
                with BoxShare(box_groups(system, intake)) as share:
                    accepted_s, published_s, _ = await bulk(system, headers, file, rows)
                per_row = share.per(rows)
                print(
                    f"import {number} of {imports} ({rows * (number - 1)} rows stored before it): "
                    f"{rows / accepted_s:.0f} rows/s accepted, {rows / published_s:.0f} published; "
                    f"PostgreSQL {per_row.get('PostgreSQL', 0.0):.0f} µs a row, the box {per_row['box']:.0f}"
                )
            if imports > 1:
                figures += [
                    f"bulk_last_rows_per_s={rows / accepted_s:.0f}",
                    f"bulk_last_pg_us_per_row={per_row.get('PostgreSQL', 0.0):.0f}",
                ]
        if count:  # --posts 0: none
            first_day = days(rows) * imports + 200
            figures += await single_posts(system, intake, headers, count, concurrency, web_workers, pairs, first_day)
        if rows:
            prefix = system.env["POPFLOW_TOPIC_PREFIX"]
            raw = await raw_produce(system.env["KAFKA_BOOTSTRAP_SERVERS"], prefix, rows)
            print(f"raw aiokafka produce (idempotent, acks=all, {rows} messages): {raw:.0f}/s")
            figures.append(f"raw_produce_per_s={raw:.0f}")
        if relay:
            events, seconds, share = await relay_drain(system)
            print(
                f"outbox relay alone: {events} rows published again in {seconds:.1f} s ({events / seconds:.0f}/s, "
                "the first row sent to the last)"
            )
            print(share.line(events, "event"))
            figures += [
                f"relay_published_per_s={events / seconds:.0f}",
                f"relay_box_us_per_event={share.per(events)['box']:.0f}",
            ]
        print(" ".join(figures))
    finally:
        await destroy_system(system)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pg-tls", action="store_true", help="keep asyncpg's default TLS to PostgreSQL")
    parser.add_argument("--web-workers", type=int, default=1, help="INTAKE_WEB_WORKERS: intake processes on its port")
    parser.add_argument(
        "--imports", type=int, default=1, help="bulk imports of --rows one after another, into the tables growing"
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=1,
        help="the anchor's run and intake's, in turn, this many times; the last line gives their medians",
    )
    parser.add_argument(
        "--relay",
        action="store_true",
        help="last, the outbox relay alone: every row published marked unsent again, intake restarted, timed",
    )
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.rows,
            arguments.posts,
            arguments.concurrency,
            not arguments.pg_tls,
            arguments.web_workers,
            arguments.imports,
            arguments.pairs,
            arguments.relay,
        )
    )
