"""SIGHUP (a terminal closed, an ssh session dropped, `kill -HUP`) stops a service as SIGTERM does.

uvicorn alone handles SIGINT and SIGTERM, and a hang-up killed the service at once: no request finished,
no consumer left its group, no leadership released. Reporting, the cheapest service to start, stands for
the four (each is served by shared/serving.py).
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.system import System, build_system, destroy_system

# what the graceful stop logs, in this order: uvicorn closing, the lifespan's clean-up, uvicorn finished
GRACEFUL_STOP = ["Shutting down", "service stopped", "Finished server process"]


@pytest.fixture(scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    running = await build_system(Path(tmp_path_factory.mktemp("logs")))
    try:
        yield running
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
