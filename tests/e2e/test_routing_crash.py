"""Routing killed with SIGKILL in the middle of 10,000 records, then restarted:
every record routed exactly once, no notice issued twice."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

from services.routing.entrypoints.kafka import RECORDS_GROUP
from shared.events import Envelope
from shared.topics import NOTICES_ISSUED, RECORDS_ROUTED, RECORDS_SUBMITTED
from tests.support import kafka
from tests.support.records import TONGDE, record
from tests.support.routing import fetch
from tests.support.system import System
from tests.support.waiting import eventually

RECORDS = 10_000
# residence streets for a Tongde reporter: same street, other Baiyun streets, Tianhe, Pudong
RESIDENCES = [TONGDE, "440111002", "440111008", "440111014", "440106001", "440106010", "310115005"]
NOTICES_PER_RECORD = {TONGDE: 0, "440111002": 1, "440111008": 1, "440111014": 1}  # inter-district: 2


def envelopes() -> list[Envelope]:
    streets = itertools.cycle(RESIDENCES)
    return [kafka.submitted(record(residence_street=next(streets), sequence=i % 1000)) for i in range(RECORDS)]


async def decisions(system: System) -> int:
    (row,) = await fetch(system.env["ROUTING_DATABASE_URL"], "SELECT count(*) FROM routed_records")
    return int(row[0])


async def test_sigkill_in_the_middle_of_10000_records(routing_only: System) -> None:
    system, bootstrap = routing_only, routing_only.env["KAFKA_BOOTSTRAP_SERVERS"]
    prefix = system.env["POPFLOW_TOPIC_PREFIX"]
    batch = envelopes()
    expected_notices = sum(NOTICES_PER_RECORD.get(e.payload["record"]["residence"]["street"], 2) for e in batch)
    system.start("routing")
    await kafka.publish(bootstrap, prefix + RECORDS_SUBMITTED, batch)

    await eventually(lambda: _at_least(system, RECORDS // 4), within=120)
    system.kill("routing")
    at_kill = await decisions(system)
    assert at_kill < RECORDS, "routing finished before it could be killed; the test proves nothing"

    system.start("routing")
    await eventually(lambda: _at_least(system, RECORDS), within=180)
    topics = [prefix + RECORDS_SUBMITTED]
    await eventually(lambda: kafka.caught_up(bootstrap, prefix + RECORDS_GROUP, topics), within=60)

    database = system.env["ROUTING_DATABASE_URL"]
    routed = {row[0] for row in await fetch(database, "SELECT record_id FROM routed_records")}
    assert routed == {e.correlation_id for e in batch}
    notice_rows = {row[0] for row in await fetch(database, "SELECT notice_id FROM notices")}
    assert len(notice_rows) == expected_notices

    issued = await kafka.read_all(bootstrap, prefix + NOTICES_ISSUED)
    on_topic = Counter(m["payload"]["notice_id"] for m in issued)
    assert set(on_topic) == notice_rows  # every notice once in effect: one id each, however often delivered
    # a message re-sent after the crash carries the very same notice (same id, same event id)
    assert len({m["event_id"] for m in issued}) == len(on_topic)
    routed_events = await kafka.read_all(bootstrap, prefix + RECORDS_ROUTED)
    assert {m["payload"]["record_id"] for m in routed_events} == routed
    print(f"killed at {at_kill} decisions; {sum(on_topic.values()) - len(on_topic)} notice messages re-sent")


async def _at_least(system: System, count: int) -> bool:
    await asyncio.sleep(0)  # let the killed process's socket close before the next query
    return await decisions(system) >= count
