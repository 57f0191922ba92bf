"""Kafka refuses routing's events for a while (records.routed set to take smaller messages than they are): routing
routes nothing meanwhile and /readyz says why; once the topic takes them again, every record is routed once, and
no restart was needed (the producer takes a new id by itself, shared.kafka.renewal.Settling)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.topics import NOTICES_ISSUED, RECORDS_ROUTED, RECORDS_SUBMITTED
from tests.support import kafka
from tests.support.infra import kafka_options
from tests.support.records import record
from tests.support.routing import fetch
from tests.support.system import System
from tests.support.waiting import eventually

CROSS_STREET = "440111002"  # a Baiyun street other than the reporter's: one transfer notice a record


async def routed_count(system: System) -> int:
    (row,) = await fetch(system.env["ROUTING_DATABASE_URL"], "SELECT count(*) FROM routed_records")
    return int(row[0])


async def readiness(system: System) -> tuple[int, Any]:
    async with httpx.AsyncClient(timeout=5) as client:
        answer = await client.get(system.url("routing") + "/readyz")
    return answer.status_code, answer.json()


async def set_max_message_bytes(admin: AIOKafkaAdminClient, topic: str, value: str) -> None:
    await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": value})])

    async def applied() -> bool:
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        found = {e[0]: e[1] for response in described for *_, entries in response.resources for e in entries}
        return found.get("max.message.bytes") == value

    await eventually(applied, within=15)


async def test_routing_publishes_again_without_a_restart_once_kafka_takes_its_events(routing_only: System) -> None:
    system, bootstrap = routing_only, routing_only.env["KAFKA_BOOTSTRAP_SERVERS"]
    prefix = system.env["POPFLOW_TOPIC_PREFIX"]
    routed_topic = prefix + RECORDS_ROUTED
    system.start("routing")
    pid = system.processes["routing"].pid
    first = [kafka.submitted(record(residence_street=CROSS_STREET, sequence=i)) for i in range(5)]
    await kafka.publish(bootstrap, prefix + RECORDS_SUBMITTED, first)
    await eventually(lambda: _reached(system, 5), within=60)

    admin = AIOKafkaAdminClient(**kafka_options(bootstrap))
    await admin.start()
    try:
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, routed_topic)])
        kept = {e[0]: e[1] for response in described for *_, entries in response.resources for e in entries}
        await set_max_message_bytes(admin, routed_topic, "200")  # an operator's mistake: no RecordRouted fits
        try:
            later = [kafka.submitted(record(residence_street=CROSS_STREET, sequence=100 + i)) for i in range(20)]
            await kafka.publish(bootstrap, prefix + RECORDS_SUBMITTED, later)

            async def refused() -> str | None:
                status, body = await readiness(system)
                said = str(body.get("failed", {}).get("kafka", "")) if status == 503 else ""
                return said if routed_topic in said else None

            said = await eventually(refused, within=60)
            assert "restart" not in said
            assert await routed_count(system) == 5  # nothing routed while its events are refused
        finally:
            await set_max_message_bytes(admin, routed_topic, kept["max.message.bytes"])
    finally:
        await admin.close()

    await eventually(lambda: _reached(system, 25), within=120)
    await eventually(_ready(system), within=15)  # at once: its partitions take sends again
    assert system.processes["routing"].poll() is None
    assert system.processes["routing"].pid == pid, "routing was not restarted"

    database = system.env["ROUTING_DATABASE_URL"]
    routed = {row[0] for row in await fetch(database, "SELECT record_id FROM routed_records")}
    assert routed == {e.correlation_id for e in first + later}
    notices = {row[0] for row in await fetch(database, "SELECT notice_id FROM notices")}
    assert len(notices) == 25  # one transfer notice each, none twice
    issued = Counter(m["payload"]["notice_id"] for m in await kafka.read_all(bootstrap, prefix + NOTICES_ISSUED))
    assert set(issued) == notices
    on_topic = {m["payload"]["record_id"] for m in await kafka.read_all(bootstrap, routed_topic)}
    assert on_topic == routed
    assert "Kafka refused a batch: the producer takes a new id" in system.log_text("routing")


async def _reached(system: System, count: int) -> bool:
    await asyncio.sleep(0)
    return await routed_count(system) >= count


def _ready(system: System) -> Any:
    async def ready() -> bool:
        return (await readiness(system))[0] == 200

    return ready
