"""Intake served by two uvicorn workers on one port (INTAKE_WEB_WORKERS=2), on Kafka and PostgreSQL.

Each worker is a whole replica behind the one port: the records posted to
either are stored once and published once (one outbox relay leads, in
whichever worker holds the lock), and /metrics counts every request
whichever worker answers the scrape.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from shared.topics import RECORDS_SUBMITTED, TopicNames
from tests.support.kafka import read_all
from tests.support.processes import workers_of
from tests.support.records import record
from tests.support.system import System, build_system, destroy_system
from tests.support.waiting import eventually

RECORDS = 40
POSTED = re.compile(r'^popflow_http_requests_total\{[^}]*route="/v1/records"[^}]*status="202"[^}]*\} (\S+)$', re.M)


@pytest.fixture(scope="module")
async def two_workers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    system = await build_system(Path(tmp_path_factory.mktemp("logs")), {"INTAKE_WEB_WORKERS": "2"})
    try:
        system.start("intake")
        yield system
    finally:
        await destroy_system(system)


async def test_two_workers_store_publish_and_count_every_record_once(two_workers: System) -> None:
    system = two_workers
    assert len(workers_of(system.processes["intake"].pid)) == 2
    headers = {"Authorization": f"Bearer {await system.create_key('district:440111', role='submitter')}"}
    async with httpx.AsyncClient(base_url=system.url("intake"), headers=headers, timeout=30) as client:
        answers = await asyncio.gather(
            *(client.post("/v1/records", json=record(sequence=100 + n)) for n in range(RECORDS))
        )
        assert [a.status_code for a in answers] == [202] * RECORDS
        record_ids = {a.json()["record_id"] for a in answers}
        assert len(record_ids) == RECORDS

        topic = TopicNames(system.env["POPFLOW_TOPIC_PREFIX"])(RECORDS_SUBMITTED)

        async def published() -> Counter[str] | None:
            # none until every record is there: the relay leads in one worker, and a record the other
            # worker stored waits for the leader relay's next poll (at most its 1 s interval)
            ids = Counter(e["correlation_id"] for e in await read_all(system.env["KAFKA_BOOTSTRAP_SERVERS"], topic))
            return ids if set(ids) == record_ids else None

        assert set((await eventually(published)).values()) == {1}  # every record published, none twice

        # a scrape answered by either worker reports the requests both of them served
        for _ in range(6):
            scrape = (await client.get("/metrics")).text
            assert sum(float(v) for v in POSTED.findall(scrape)) == RECORDS
