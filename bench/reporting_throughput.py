"""Reporting benchmark: events folded per second, and the district weekly report over 1,000,000 records.

1. Fold: N events (default 500,000: submitted, routed, notices issued and
   answered) are produced to a fresh topic prefix first; then reporting's fold
   (the same FoldConsumer the service runs: consumer group, batches, one
   transaction and one offset commit per batch) reads them into a fresh
   PostgreSQL store. folded_per_s = N / time from the consumer's start
   (group join included) to the last event folded.
2. Report: M record facts (default 1,000,000, 24 streets over 10 weeks, with
   notices and rejections) are bulk-loaded into another fresh store with COPY
   (not through Kafka), then the district's weekly report is produced as JSON
   (weekly_report_ms) and as XLSX (weekly_xlsx_ms, report included): median of
   5 runs each.
3. Spot check: over the same store, the candidates of every week loaded (all M
   records, the ten weeks up to the report's) read a street at a time and a
   sample of 20 a street drawn, as `POST /v1/spotchecks` draws it (the sample
   is not stored): spotcheck_draw_ms (median of 3), and the most Python
   memory the draw held (spotcheck_peak_mb, traced by tracemalloc in a run
   of its own, since tracing slows it).

Needs KAFKA_BOOTSTRAP_SERVERS and POPFLOW_TEST_PG_URL (an admin URL that may
create databases). Topics and databases are dropped at the end.
Last line: folded_per_s=<x> weekly_report_ms=<y> weekly_xlsx_ms=<z> spotcheck_draw_ms=<d> spotcheck_peak_mb=<m>
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.engine import make_url

from services.reporting.adapters.decoding import Decoder
from services.reporting.adapters.exports import to_xlsx
from services.reporting.adapters.fold import FactWriter
from services.reporting.adapters.spotcheck_store import SpotCheckStore
from services.reporting.bootstrap import FOLDED_TOPICS, MIGRATIONS
from services.reporting.domain.sheets import weekly_sheet
from services.reporting.domain.weeks import WeekCalendar
from services.reporting.entrypoints.kafka import FoldConsumer
from services.reporting.service_layer.spotchecks import drawn
from shared.db import build_engine, run_migrations
from shared.directory import load_directory
from shared.events import Event, NoticeAnswered, NoticeIssued, RecordRouted, RecordSubmitted
from shared.events.envelope import payload_envelope_json
from shared.identity import check_character
from shared.kafka.admin import ensure_topics
from shared.serving import tune_collector
from tests.support.infra import TEST_KEYRING, force_drop, kafka_at, kafka_options
from tests.support.reporting import report_service

CALENDAR = WeekCalendar(ZoneInfo("Asia/Shanghai"))
DISTRICT = "440111"
STREETS = load_directory().streets_of(DISTRICT)
REPORT_WEEK = "2027-W08"
WEEK_END = CALENDAR.bounds(REPORT_WEEK).ends_at


def identity(n: int) -> str:
    first17 = f"430102{date(1970, 1, 1) + timedelta(days=n % 15000):%Y%m%d}{n % 1000:03d}"
    return first17 + check_character(first17)


def envelope(kind: type[Event], payload: dict[str, Any], key: str) -> tuple[bytes, bytes]:
    """The event as the services publish it: its current version, its personal parts sealed."""
    body = payload_envelope_json(kind, payload, producer="bench", correlation_id=key, keyring=TEST_KEYRING)
    return key.encode(), orjson.dumps(body)


def events(count: int, rng: random.Random) -> list[tuple[str, bytes, bytes]]:
    """(relative topic, key, value): half records submitted, then their routes, notices and answers."""
    out: list[tuple[str, bytes, bytes]] = []
    records = count // 2
    for n in range(records):
        street, residence = rng.choice(STREETS), rng.choice(STREETS)
        observed = WEEK_END - timedelta(minutes=rng.randrange(60 * 24 * 7 * 10))
        record_id = str(uuid.uuid4())
        record = {
            "event": rng.choice(("new_inflow", "new_inflow", "verification", "change", "outflow")),
            "person": {"id_number": identity(n), "name": "测试"},
            "reporting_street": street,
            "residence": {"street": residence, "address": "测试路 1 号"},
            "registration": {"division": "430102", "address": ""},
            "observed_at": observed.isoformat(),
            "certificate": {
                "result": rng.choice(("valid", "expired", "missing", "invalid")),
                "valid_until": "2027-06-01",
                "checked_on": observed.date().isoformat(),
            },
        }
        received = observed + timedelta(minutes=rng.randrange(1, 3000))
        payload = {"record_id": record_id, "received_at": received.isoformat(), "record": record}
        out.append(("records.submitted", *envelope(RecordSubmitted, payload, record_id)))
        if len(out) >= count:
            break
        route = "same-district" if street == residence else "cross-street"
        routed = {
            "record_id": record_id,
            "route": route,
            "reporting_street": street,
            "residence_street": residence,
            "observed_at": observed.isoformat(),
            "decided_at": received.isoformat(),
        }
        out.append(("records.routed", *envelope(RecordRouted, routed, record_id)))
        if route == "cross-street" and len(out) < count and n % 3:
            notice_id = str(uuid.uuid4())
            issued = {
                "notice_id": notice_id,
                "record_id": record_id,
                "recipient_code": residence,
                "route": route,
                "reason": "bench",
                "person": {"name": "测试", "id_number": identity(n), "residence_address": "测试路"},
                "issued_at": received.isoformat(),
                "kind": "transfer",
                "answer_expected": True,
                "answer_due": (received + timedelta(days=5)).isoformat(),
            }
            out.append(("notices.issued", *envelope(NoticeIssued, issued, record_id)))
            if n % 2 and len(out) < count:
                answered = {
                    "notice_id": notice_id,
                    "record_id": record_id,
                    "result": "confirmed",
                    "answered_by": residence,
                    "answered_at": (received + timedelta(days=2)).isoformat(),
                }
                out.append(("notices.answered", *envelope(NoticeAnswered, answered, record_id)))
        if len(out) >= count:
            break
    return out[:count]


async def produce(bootstrap: str, prefix: str, messages: list[tuple[str, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(**kafka_options(bootstrap), linger_ms=20, max_batch_size=512 * 1024, acks=1)
    await producer.start()
    try:
        pending = []
        for topic, key, value in messages:
            pending.append(await producer.send(prefix + topic, value, key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def fold_rate(bootstrap: str, prefix: str, store_url: str, count: int, batch: int) -> float:
    engine = build_engine(store_url)
    await run_migrations(engine, MIGRATIONS)

    async def no_dead_letter(_body: bytes, _headers: dict[str, str]) -> None:
        raise RuntimeError("the benchmark's events are all readable")

    fold = FoldConsumer(
        kafka=kafka_at(bootstrap),
        topics=[prefix + t for t in FOLDED_TOPICS],
        group=f"bench-{secrets.token_hex(3)}",
        writer=FactWriter(engine),
        decoder=Decoder(CALENDAR, b"bench-secret-0123456789", TEST_KEYRING),
        dead_letter=no_dead_letter,
        batch_max=batch,
    )
    started = time.perf_counter()
    task = asyncio.create_task(fold.run())
    while fold.folded < count:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await engine.dispose()
    return count / elapsed


RECORD_COLUMNS = (
    "record_id", "reporting_street", "week", "observed_at", "submitted", "route", "received_at", "residence_street",
    "event_kind", "person_key", "sex", "birth_date", "marital_status", "arrival_date", "cert_result",
    "cert_valid_until", "missing_mask", "source_kind", "key_area_kind",
)  # fmt: skip


NOTICE_COLUMNS = (
    "notice_id", "record_id", "recipient_code", "route", "issued_at", "week", "answered_at", "answer",
    "sender_street", "kind", "answer_expected",
)  # fmt: skip


async def bulk_load(store_url: str, count: int, rng: random.Random) -> None:
    engine = build_engine(store_url)
    await run_migrations(engine, MIGRATIONS)
    await engine.dispose()
    connection = await asyncpg.connect(make_url(store_url).set(drivername="postgresql").render_as_string(False))
    try:
        records, notices = [], []
        for n in range(count):
            observed = WEEK_END - timedelta(minutes=rng.randrange(60 * 24 * 7 * 10))
            received = observed + timedelta(minutes=rng.randrange(1, 3000))
            street, residence = rng.choice(STREETS), rng.choice(STREETS)
            record_id = str(uuid.uuid4())
            records.append((
                record_id, street, CALENDAR.week_of(observed), observed, True,
                "same-district" if street == residence else "cross-street", received, residence,
                rng.choice(("new_inflow", "verification", "change", "outflow")), f"{n % 700_000:064x}",
                rng.choice(("male", "female")), date(1970, 1, 1) + timedelta(days=n % 15000),
                rng.choice(("married", "unmarried", None)), None,
                rng.choice(("valid", "expired", "missing", "invalid", None)), date(2027, 3, 1) + timedelta(days=n % 90),
                rng.randrange(64), "field_canvass", "market",
            ))  # fmt: skip
            if street != residence and n % 3 == 0:
                answered = received + timedelta(days=rng.randrange(1, 12)) if n % 2 else None
                week = CALENDAR.week_of(received)
                notice = (
                    str(uuid.uuid4()),
                    record_id,
                    residence,
                    "cross-street",
                    received,
                    week,
                    answered,
                    None,
                    street,
                    "transfer",  # a handover that awaits the street's answer, as every one of these is
                    True,
                )
                notices.append(notice)
        # Facts arrive in time order in production, so a week's rows lie together: load them so.
        records.sort(key=lambda row: row[6])
        notices.sort(key=lambda row: row[4])
        await connection.copy_records_to_table("report_records", records=records, columns=RECORD_COLUMNS)
        await connection.copy_records_to_table("report_notices", records=notices, columns=NOTICE_COLUMNS)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


class FixedClock:
    """The day after the reported week: the week is closed, notices age up to its cut-off."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, moment: datetime) -> None:
        raise NotImplementedError


async def median_ms(action: Callable[[], Awaitable[object]], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def report_times(store_url: str) -> tuple[float, float, int]:
    engine = build_engine(store_url)
    service = report_service(engine, CALENDAR, FixedClock(WEEK_END + timedelta(days=1)))

    async def as_json() -> str:
        return json.dumps(await service.weekly(DISTRICT, REPORT_WEEK), ensure_ascii=False)

    async def as_xlsx() -> bytes:
        return to_xlsx(weekly_sheet(await service.weekly(DISTRICT, REPORT_WEEK), CALENDAR.zone))

    report = await service.weekly(DISTRICT, REPORT_WEEK)
    try:
        return await median_ms(as_json), await median_ms(as_xlsx), int(report["records"])
    finally:
        await engine.dispose()


async def spotcheck_figures(store_url: str) -> tuple[float, float, int]:
    """(median ms, peak MB of Python memory, cases drawn) of a draw over the ten weeks up to REPORT_WEEK."""
    engine = build_engine(store_url)
    store = SpotCheckStore(engine)
    first = CALENDAR.week_of(WEEK_END - timedelta(weeks=10))

    async def draw() -> dict[str, list[str]]:
        return await drawn(store, DISTRICT, (first, REPORT_WEEK), seed="bench", size_per_street=20)

    try:
        cases = sum(len(ids) for ids in (await draw()).values())
        draw_ms = await median_ms(draw, runs=3)
        tracemalloc.start()
        try:
            await draw()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return draw_ms, peak / 2**20, cases
    finally:
        await engine.dispose()


async def main(events_count: int, records_count: int, batch: int) -> None:
    missing = [name for name in ("KAFKA_BOOTSTRAP_SERVERS", "POPFLOW_TEST_PG_URL") if not os.environ.get(name)]
    if missing:
        raise SystemExit(f"set {' and '.join(missing)} (Kafka brokers; a PostgreSQL URL that may create databases)")
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    admin_url = make_url(os.environ["POPFLOW_TEST_PG_URL"])
    run = f"bench{secrets.token_hex(3)}"
    prefix = f"bench.{run}."
    databases = {"fold": f"{run}_fold", "report": f"{run}_report"}
    admin = await asyncpg.connect(admin_url.set(drivername="postgresql").render_as_string(False))
    rng = random.Random(7)
    try:
        urls = {}
        for role, name in databases.items():
            await admin.execute(f'CREATE DATABASE "{name}"')
            urls[role] = admin_url.set(drivername="postgresql+asyncpg", database=name).render_as_string(False)
        topics = [prefix + t for t in FOLDED_TOPICS]
        await ensure_topics(kafka_at(bootstrap), topics, partitions=6, replication=1)

        started = time.perf_counter()
        messages = events(events_count, rng)
        await produce(bootstrap, prefix, messages)
        produced = len(messages)
        print(f"produced {produced} events in {time.perf_counter() - started:.1f} s", flush=True)
        del messages  # the fold runs as in the service: without them in memory, the collector tuned alike
        tune_collector()
        folded = await fold_rate(bootstrap, prefix, urls["fold"], produced, batch)
        print(f"folded {produced} events: {folded:.0f}/s", flush=True)

        started = time.perf_counter()
        await bulk_load(urls["report"], records_count, rng)
        print(f"bulk-loaded {records_count} record facts (COPY) in {time.perf_counter() - started:.1f} s", flush=True)
        report_ms, xlsx_ms, in_week = await report_times(urls["report"])
        print(f"district {DISTRICT}, week {REPORT_WEEK}: {in_week} records in the week, {len(STREETS)} streets")
        draw_ms, peak_mb, cases = await spotcheck_figures(urls["report"])
        print(f"spot check over {records_count} records, {len(STREETS)} streets: {cases} cases drawn")
        print(
            f"folded_per_s={folded:.0f} weekly_report_ms={report_ms:.0f} weekly_xlsx_ms={xlsx_ms:.0f} "
            f"spotcheck_draw_ms={draw_ms:.0f} spotcheck_peak_mb={peak_mb:.1f}"
        )
    finally:
        for name in databases.values():
            await force_drop(admin, name)
        await admin.close()
        kafka_admin = AIOKafkaAdminClient(**kafka_options(bootstrap))
        await kafka_admin.start()
        try:
            await kafka_admin.delete_topics([prefix + t for t in FOLDED_TOPICS])
        finally:
            await kafka_admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000, help="most events per fold transaction")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, arguments.records, arguments.batch))
