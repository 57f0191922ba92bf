"""The running system for end-to-end tests: one per test module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.system import SERVICES, System, build_system, destroy_system


@pytest.fixture(scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    log_dir = Path(tmp_path_factory.mktemp("logs"))
    # the test receivers listen on 127.0.0.1 over plain http, which production refuses (docs/security.md)
    running = await build_system(log_dir, {"NOTIFICATION_WEBHOOK_ALLOW": "loopback,http"})
    try:
        for service in SERVICES:
            running.start(service, wait=False)
        for service in SERVICES:
            running.wait_ready(service)
        yield running
    finally:
        await destroy_system(running)


@pytest.fixture(scope="module")
async def intake(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    """Intake alone (its tests need no other service), with small bulk limits to reach them cheaply."""
    log_dir = Path(tmp_path_factory.mktemp("logs"))
    running = await build_system(log_dir, {"INTAKE_BULK_MAX_ROWS": "60", "INTAKE_BULK_BATCH": "7"})
    try:
        running.start("intake")
        yield running
    finally:
        await destroy_system(running)


@pytest.fixture(scope="module")
async def routing_only(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    """The infrastructure and its settings, no service started: a test starts routing itself (no reminders)."""
    system = await build_system(Path(tmp_path_factory.mktemp("logs")), {"ROUTING_REMINDER_INTERVAL_S": "0"})
    try:
        yield system
    finally:
        await destroy_system(system)
