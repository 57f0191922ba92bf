"""A poison message is dead-lettered with its error and the consumers go on."""

from __future__ import annotations

import functools
import json
from typing import Any

import httpx

from shared.kafka.failures import open_dead_letter
from tests.support import records
from tests.support.infra import TEST_KEYRING
from tests.support.kafka import publish_one, read_topic
from tests.support.records import TONGDE, XINSHI
from tests.support.system import System
from tests.support.waiting import eventually


async def _route(client: httpx.AsyncClient, system: System, record_id: str) -> Any:
    response = await client.get(system.url("intake") + f"/v1/records/{record_id}")
    return response.json()["route"]


async def test_poison_messages_are_dead_lettered_and_consumption_continues(system: System) -> None:
    prefix = system.env["POPFLOW_TOPIC_PREFIX"]
    await publish_one(prefix + "records.submitted", b"{not json", key=b"poison-1")
    not_a_record = {
        "event_id": "3f0e9a8e-0d6b-4c3e-9d7e-2f0c4b1a9e11",
        "type": "RecordSubmitted",
        "version": 1,
        "occurred_at": "2027-02-24T02:30:00Z",
        "producer": "test",
        "correlation_id": "x",
        "payload": {"record_id": "x"},
    }
    await publish_one(prefix + "records.submitted", json.dumps(not_a_record).encode(), key=b"poison-2")

    body = records.record(reporting_street=TONGDE, residence_street=XINSHI, sequence=31)
    key = await system.create_key("admin")  # every intake request carries a key (issue 3)
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {key}"}) as client:
        response = await client.post(system.url("intake") + "/v1/records", json=body)
        assert response.status_code == 202
        record_id = response.json()["record_id"]
        assert await eventually(functools.partial(_route, client, system, record_id)) == "cross-street"

    # routing and reporting both consume records.submitted: each dead-letters both poison messages
    dead = await read_topic(prefix + "deadletter", at_least=4)
    assert len(dead) == 4
    for message in dead:
        headers = {k: v.decode() for k, v in message.headers}
        assert headers["source_topic"] == prefix + "records.submitted"
        assert headers["source_offset"].isdigit()
        assert headers["error_type"]
        assert headers["error"]
    opened = {open_dead_letter(TEST_KEYRING, bytes(m.value), {k: v.decode() for k, v in m.headers}) for m in dead}
    assert opened == {b"{not json", json.dumps(not_a_record).encode()}
    assert not {bytes(m.value) for m in dead} & opened  # the topic keeps them sealed
