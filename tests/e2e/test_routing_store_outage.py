"""Routing's database drops its connections and refuses new ones for a while in the middle of 4,000 records:
the batches that met it are retried (not dead-lettered), and every record is routed exactly once."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

from services.routing.entrypoints.kafka import RECORDS_GROUP
from shared.topics import DEAD_LETTER, NOTICES_ISSUED, RECORDS_ROUTED, RECORDS_SUBMITTED
from tests.support import kafka
from tests.support.infra import terminate_backends
from tests.support.records import TONGDE, record
from tests.support.routing import fetch
from tests.support.system import System
from tests.support.waiting import eventually

RECORDS = 4_000
OUTAGE_S = 4.0
# residence streets for a Tongde reporter: same street, other Baiyun streets, Tianhe, Pudong
RESIDENCES = [TONGDE, "440111002", "440111008", "440106001", "310115005"]
NOTICES_PER_RECORD = {TONGDE: 0, "440111002": 1, "440111008": 1}  # inter-district: 2


async def decisions(system: System) -> int:
    (row,) = await fetch(system.env["ROUTING_DATABASE_URL"], "SELECT count(*) FROM routed_records")
    return int(row[0])


async def test_a_database_away_for_seconds_costs_routing_a_pause_and_no_record(routing_only: System) -> None:
    system, bootstrap = routing_only, routing_only.env["KAFKA_BOOTSTRAP_SERVERS"]
    prefix, database = system.env["POPFLOW_TOPIC_PREFIX"], system.databases["routing"]
    streets = itertools.cycle(RESIDENCES)
    batch = [kafka.submitted(record(residence_street=next(streets), sequence=i % 1000)) for i in range(RECORDS)]
    expected_notices = sum(NOTICES_PER_RECORD.get(e.payload["record"]["residence"]["street"], 2) for e in batch)
    system.start("routing")
    await kafka.publish(bootstrap, prefix + RECORDS_SUBMITTED, batch)

    await eventually(lambda: _at_least(system, RECORDS // 10), within=120)
    try:
        assert await terminate_backends(database, refuse_new=True) > 0
        await asyncio.sleep(OUTAGE_S)
    finally:
        await terminate_backends(database, refuse_new=False)
    at_return = await decisions(system)
    assert at_return < RECORDS, "routing finished before its database went away; the test proves nothing"

    await eventually(lambda: _at_least(system, RECORDS), within=180)
    topics = [prefix + RECORDS_SUBMITTED]
    await eventually(lambda: kafka.caught_up(bootstrap, prefix + RECORDS_GROUP, topics), within=60)
    routed = {row[0] for row in await fetch(system.env["ROUTING_DATABASE_URL"], "SELECT record_id FROM routed_records")}
    assert routed == {e.correlation_id for e in batch}
    notices = {row[0] for row in await fetch(system.env["ROUTING_DATABASE_URL"], "SELECT notice_id FROM notices")}
    assert len(notices) == expected_notices
    issued = Counter(m["payload"]["notice_id"] for m in await kafka.read_all(bootstrap, prefix + NOTICES_ISSUED))
    assert set(issued) == notices
    routed_events = await kafka.read_all(bootstrap, prefix + RECORDS_ROUTED)
    assert {m["payload"]["record_id"] for m in routed_events} == routed
    assert await kafka.read_raw(bootstrap, prefix + DEAD_LETTER) == [], "a record that met the outage was set aside"
    retried = [line for line in system.log_text("routing").splitlines() if "will be retried" in line]
    assert retried, "the outage was met (a batch failed and was retried), not slept through"


async def _at_least(system: System, count: int) -> bool:
    await asyncio.sleep(0)
    return await decisions(system) >= count
