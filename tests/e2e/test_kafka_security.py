"""The services against the broker's SASL listener: with the right credentials a record is routed and
reaches every service; with a wrong password readiness says why, and no log line shows the password."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from services.reporting.bootstrap import FOLDED_TOPICS, GROUP
from shared.kafka.admin import DAY_MS
from shared.topics import DEAD_LETTER, RECORDS_SUBMITTED, TopicNames
from tests.support import kafka, records
from tests.support.infra import kafka_bootstrap, kafka_connection, sasl_kafka_env
from tests.support.records import TONGDE, XINSHI
from tests.support.system import SERVICES, System, build_system, destroy_system
from tests.support.waiting import eventually

WRONG_PASSWORD = "not-the-password-7Qe2"


@pytest.fixture(scope="module")
async def sasl_system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    running = await build_system(Path(tmp_path_factory.mktemp("logs")), sasl_kafka_env())
    try:
        for service in SERVICES:
            running.start(service, wait=False)
        for service in SERVICES:
            running.wait_ready(service)
        yield running
    finally:
        await destroy_system(running)


async def test_services_authenticate_and_a_record_is_routed(sasl_system: System) -> None:
    system = sasl_system
    key = await system.create_key("admin")
    headers = {"Authorization": f"Bearer {key}"}
    body = records.record(reporting_street=TONGDE, residence_street=XINSHI, sequence=31)
    async with httpx.AsyncClient(timeout=10, headers=headers) as client:
        response = await client.post(system.url("intake") + "/v1/records", json=body)
        assert response.status_code == 202, response.text
        record_id = response.json()["record_id"]

        async def route() -> str | None:
            answer = await client.get(system.url("intake") + f"/v1/records/{record_id}")
            return answer.json()["route"]  # type: ignore[no-any-return]

        assert await eventually(route) == "cross-street"

        async def inbox() -> list[dict[str, Any]]:
            answer = await client.get(system.url("notification") + f"/v1/inbox/{XINSHI}")
            return answer.json()["notices"]  # type: ignore[no-any-return]

        assert [n["record_id"] for n in await eventually(inbox)] == [record_id]

    # The same broker's PLAINTEXT listener lets the test look at what the services did over SASL.
    topics = TopicNames(system.env["POPFLOW_TOPIC_PREFIX"])
    folded = [topics(t) for t in FOLDED_TOPICS]
    assert await eventually(functools.partial(kafka.caught_up, kafka_bootstrap(), topics(GROUP), folded))
    password = system.env["KAFKA_SASL_PASSWORD"]
    assert all(password not in system.log_text(service) for service in SERVICES)


async def test_services_set_the_retention_of_their_topics(sasl_system: System) -> None:
    topics = TopicNames(sasl_system.env["POPFLOW_TOPIC_PREFIX"])
    admin = AIOKafkaAdminClient(**kafka_connection().options())
    await admin.start()
    try:
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topics(name)) for name in (DEAD_LETTER, RECORDS_SUBMITTED)]
        )
    finally:
        await admin.close()
    retention = {
        name: next(entry[1] for entry in entries if entry[0] == "retention.ms")
        for response in described
        for _, _, _, name, entries in response.resources
    }
    assert retention == {topics(DEAD_LETTER): str(14 * DAY_MS), topics(RECORDS_SUBMITTED): "-1"}


async def test_wrong_credentials_fail_readiness_with_the_reason(tmp_path: Path) -> None:
    system = await build_system(tmp_path, sasl_kafka_env(password=WRONG_PASSWORD))
    try:
        system.start("intake", wait=False)

        async def readiness() -> httpx.Response | None:
            assert system.processes["intake"].poll() is None, system.log_text("intake")
            try:
                async with httpx.AsyncClient(timeout=5) as client:
                    return await client.get(system.url("intake") + "/readyz")
            except httpx.TransportError:
                return None  # not serving yet

        answer = await eventually(readiness, within=90)
        assert answer.status_code == 503
        assert answer.json()["checks"]["kafka"] is False
        assert answer.json()["failed"] == {"kafka": "kafka authentication failed"}
        log = system.log_text("intake")
        assert "kafka authentication failed" in log
        assert "KAFKA_SASL_PASSWORD" in log  # the line says what to check...
        assert WRONG_PASSWORD not in log  # ...and never the password itself
    finally:
        await destroy_system(system)
