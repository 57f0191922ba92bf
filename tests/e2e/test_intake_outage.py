"""Kafka down while records arrive: intake keeps answering 202, the relay catches up, nothing lost or doubled.

The test runs its own broker on port 19192 (deploy/kafka/start.sh with a
temporary data directory), so stopping it disturbs nobody else's Kafka.
"""

from __future__ import annotations

import os
import subprocess
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support.records import record
from tests.support.system import ROOT, System, build_system, destroy_system
from tests.support.topics import read_topic
from tests.support.waiting import eventually

# Below the kernel's ephemeral range (32768-60999 on Debian): a port in it may be held, at the
# moment the broker binds, by any outgoing connection of the suite (a CI run failed that way on
# 39092/39093). The suite's broker is on 19092-19094.
PORT = 19192
BOOTSTRAP = f"127.0.0.1:{PORT}"
PERSONS = 6


class OwnBroker:
    def __init__(self, data_dir: Path) -> None:
        # not the suite broker's other listeners (with-infra.sh exports its SASL port): this one has only its own
        inherited = {k: v for k, v in os.environ.items() if k not in ("KAFKA_SASL_PORT", "KAFKA_CONTROLLER_PORT")}
        self.env = {
            **inherited,
            "KAFKA_PORT": str(PORT),
            "KAFKA_DATA_DIR": str(data_dir),
            "KAFKA_READY_TIMEOUT": "120",
        }

    def start(self) -> None:
        self._run("start.sh")

    def stop(self) -> None:
        self._run("stop.sh")

    def _run(self, script: str) -> None:
        done = subprocess.run(
            ["bash", f"deploy/kafka/{script}"], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{script} exited {done.returncode}: {_cause_and_tail(done.stderr)}"


def _cause_and_tail(stderr: str) -> str:
    """start.sh prints the log's first ERROR lines, then its tail (shutdown noise): keep both."""
    head, marker, rest = stderr.partition("----- first ERROR/FATAL lines")
    if not marker:
        return stderr[-3000:]
    return head[-500:] + marker + rest[:2000] + "\n[...]\n" + rest[-1000:]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    own = OwnBroker(tmp_path_factory.mktemp("kafka"))
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture(scope="module")
async def intake_on_own_broker(broker: OwnBroker, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    running = await build_system(Path(tmp_path_factory.mktemp("logs")), {"KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP})
    try:
        running.start("intake")
        yield running
    finally:
        await destroy_system(running)


async def outbox_counts(system: System) -> tuple[int, int]:
    """(unsent, total) rows of intake's outbox."""
    url = make_url(system.env["INTAKE_DATABASE_URL"]).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        row = await connection.fetchrow("SELECT count(*) FILTER (WHERE sent_at IS NULL), count(*) FROM outbox")
    finally:
        await connection.close()
    assert row is not None
    return int(row[0]), int(row[1])


async def submit_round(client: httpx.AsyncClient, round_number: int) -> list[tuple[int, str]]:
    """One record per person (a new version of each case); (person, record id) in submission order."""
    submitted = []
    for person in range(PERSONS):
        event = "new_inflow" if round_number == 0 else "verification"
        response = await client.post("/v1/records", json=record(sequence=700 + person, event=event))
        assert response.status_code == 202, response.text
        submitted.append((person, response.json()["record_id"]))
    return submitted


async def test_records_accepted_while_kafka_is_down_are_published_once_in_order(
    broker: OwnBroker, intake_on_own_broker: System
) -> None:
    system = intake_on_own_broker
    key = await system.create_key("admin")
    submitted: list[tuple[int, str]] = []
    async with httpx.AsyncClient(base_url=system.url("intake"), headers={"Authorization": f"Bearer {key}"}) as client:
        for round_number in range(2):
            submitted += await submit_round(client, round_number)
        await eventually(lambda: _drained(system), within=60)

        broker.stop()
        for round_number in range(2, 6):
            submitted += await submit_round(client, round_number)
        unsent, _ = await outbox_counts(system)
        assert unsent == 4 * PERSONS  # kept, not lost, while Kafka is away

        async def relay_failing() -> dict[str, Any] | None:  # said on /readyz for the operator, by the leader
            shown = (await client.get("/readyz")).json().get("outbox_relay")
            return shown if isinstance(shown, dict) else None

        # a pass waits on the producer's retries (pass_waiting_since), or a failed one was counted (failed_passes)
        failing = await eventually(relay_failing, within=120)
        assert set(failing) & {"pass_waiting_since", "failed_passes"}, failing

        broker.start()
        await eventually(lambda: _drained(system), within=180)
        assert "outbox_relay" not in (await client.get("/readyz")).json()  # a pass went through: said no more

    events = await read_topic(BOOTSTRAP, system.env["POPFLOW_TOPIC_PREFIX"] + "records.submitted", 3)
    ids = [envelope["correlation_id"] for _, _, envelope in events]
    assert sorted(ids) == sorted(record_id for _, record_id in submitted)  # every record exactly once
    assert _versions_by_case(events) == {tuple(range(1, 7))}  # each person's versions in order


async def _drained(system: System) -> bool:
    unsent, total = await outbox_counts(system)
    return unsent == 0 and total > 0


def _versions_by_case(events: list[tuple[int, bytes, dict[str, Any]]]) -> set[tuple[int, ...]]:
    by_case: dict[str, list[int]] = defaultdict(list)
    for _, _, envelope in events:  # in partition order, and a person's events share a partition
        by_case[envelope["payload"]["case_id"]].append(envelope["payload"]["case_version"])
    assert len(by_case) == PERSONS
    return {tuple(versions) for versions in by_case.values()}
