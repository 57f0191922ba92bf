"""Schemathesis over all four services with an admin key: no input makes any of them answer 5xx.

A short run (about 150 cases per service); bench/fuzz.py runs thousands
against a running system.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.fuzzing import fuzz
from tests.support.system import SERVICES, System


@pytest.mark.parametrize("service", SERVICES)
async def test_fuzzing_finds_no_server_error(system: System, service: str, tmp_path: Path) -> None:
    admin = await system.create_key("admin", label="fuzz")
    run = await asyncio.to_thread(
        fuzz,
        service,
        system.url(service),
        admin,
        max_examples=8,
        seed=3,
        report_dir=tmp_path,
        timeout_s=600,
    )
    assert run.cases >= 100, run.output[-3000:]
    assert run.returncode == 0, run.output[-6000:]
