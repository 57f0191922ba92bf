"""SIGHUP (a terminal closed, an ssh session dropped, `kill -HUP`) stops a service as SIGTERM does; with
several web workers it is uvicorn's rolling restart of the workers, each stopped as by SIGTERM.

uvicorn alone handles SIGINT and SIGTERM, and a hang-up killed the service at once: no request finished,
no consumer left its group, no leadership released. Reporting, the cheapest service to start, stands for
the four (each is served by shared/serving.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import workers_of
from tests.support.system import System, build_system, destroy_system
from tests.support.waiting import eventually

# what the graceful stop logs, in this order: uvicorn closing, the lifespan's clean-up, uvicorn finished
GRACEFUL_STOP = ["Shutting down", "service stopped", "Finished server process"]


@pytest.fixture(scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    running = await build_system(Path(tmp_path_factory.mktemp("logs")))
    try:
        yield running
    finally:
        await destroy_system(running)


# reporting, the cheapest to start; routing, the slowest (4-6 s a worker: past uvicorn's default 5 s for a new
# worker to be ready, which gave up every rolling restart of routing)
@pytest.fixture(scope="module", params=["reporting", "routing"])
async def two_workers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[System, str]]:
    service: str = request.param
    running = await build_system(Path(tmp_path_factory.mktemp("logs")), {f"{service.upper()}_WEB_WORKERS": "2"})
    try:
        running.start(service)
        yield running, service
    finally:
        await destroy_system(running)


def events(log: str) -> list[str]:
    """The `event` of each JSON line, without the process id uvicorn appends ("Finished server process")."""
    found = []
    for line in log.splitlines():
        if line.startswith("{"):
            event = str(json.loads(line).get("event", ""))
            found.append(event.split(" [")[0])
    return found


def test_a_hang_up_stops_the_service_gracefully(system: System) -> None:
    system.start("reporting")
    process = system.processes.pop("reporting")
    process.send_signal(signal.SIGHUP)
    try:
        returncode = process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    # as after SIGTERM (which ends -15), uvicorn raises the signal again once stopped: the parent learns why
    assert returncode == -signal.SIGHUP
    stopped = [event for event in events(system.log_text("reporting")) if event in GRACEFUL_STOP]
    assert stopped == GRACEFUL_STOP  # before the patch: none of them, the process killed at once


async def test_a_hang_up_of_supervisor_and_workers_replaces_each_worker_after_a_graceful_stop(
    two_workers: tuple[System, str],
) -> None:
    system, service = two_workers
    supervisor = system.processes[service]
    before = set(workers_of(supervisor.pid))
    assert len(before) == 2
    # both workers serving (the service answered as soon as one did): a hang-up before a worker's app loads kills it
    await eventually(lambda: events(system.log_text(service)).count("Application startup complete.") == 2, within=60)
    for pid in (supervisor.pid, *before):  # the whole process group, as a closing terminal signals it
        os.kill(pid, signal.SIGHUP)

    def replaced() -> set[int] | None:
        now = set(workers_of(supervisor.pid))
        return now if len(now) == 2 and not now & before else None

    await eventually(replaced, within=60)
    assert supervisor.poll() is None
    async with httpx.AsyncClient(base_url=system.url(service), timeout=10) as client:
        assert (await client.get("/healthz")).status_code == 200
    logged = events(system.log_text(service))
    assert "Received SIGHUP, restarting processes." in logged  # the supervisor's own line
    # each old worker left as on SIGTERM, not killed by the hang-up that reached it too
    assert logged.count("service stopped") == 2
