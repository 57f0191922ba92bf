"""Issue 13 item 10: `popflow demo` plays a campaign week that fills every figure of the district's report,
and a spot check whose ranking shows wrong, not found and missed (a place check with a missed person).

All four services run as processes on the real Kafka and PostgreSQL; the
demo runs as the `popflow` command a newcomer types after `make run`.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.reporting.domain.figures import FIGURE_NAMES
from services.reporting.domain.weeks import report_week_of
from tests.support.records import BAIYUN
from tests.support.system import ROOT, SERVICES, System, build_system, destroy_system
from tests.support.waiting import eventually, past_a_cut_off_due_within

ZONE = "Asia/Shanghai"
# Notices are issued as the demo runs, so none is 3 days old yet: those two buckets fill as the days pass.
AGED = frozenset({"unanswered_3_to_7_days", "unanswered_over_7_days"})
# An inter-district handover received by Baiyun is another district's forward to it, which comes from that
# district's deployment through the exchange; the demo runs one deployment of Baiyun's streets. The notice that
# tells Baiyun's bureau of its own streets' inter-district cases informs it and awaits no answer, so it is
# received by no figure (docs/reporting.md, "Kinds"). The scripted week of tests/integration/test_reporting_week.py
# counts a forward received from Tianhe (w1).
FROM_OTHER_DISTRICTS = frozenset({"received_inter-district"})


@pytest.fixture(scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    running = await build_system(Path(tmp_path_factory.mktemp("logs")), {"POPFLOW_TIMEZONE": ZONE})
    try:
        running.start_together(*SERVICES)
        yield running
    finally:
        await destroy_system(running)


async def test_the_demo_week_fills_every_figure_of_the_districts_report(system: System) -> None:
    key = await system.create_key("admin", label="demo")
    # the demo's steps (records, rejections, notices, answers) count in the week they happen in: all in one
    await past_a_cut_off_due_within(timedelta(minutes=5), ZoneInfo(ZONE))
    week = report_week_of(datetime.now(UTC), ZoneInfo(ZONE))
    command = [sys.executable, "-c", "from services.cli import main; main()", "demo", "--count", "150"]
    command += ["--key", key, "--intake", system.url("intake"), "--notification", system.url("notification")]
    command += ["--reporting", system.url("reporting"), "--answer-wait-s", "120"]
    done = await asyncio.to_thread(
        subprocess.run, command, env=system.env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "campaign planned" in done.stdout
    assert "responsible workers" in done.stdout
    assert "list of 8 rows: 7 accepted, 1 refused" in done.stdout
    assert "by their own offices" in done.stdout  # office keys minted in the deployment's key store
    headers = {"Authorization": f"Bearer {key}"}

    async with httpx.AsyncClient(timeout=20) as client:
        empty: list[str] = []

        async def filled() -> dict[str, Any] | None:
            response = await client.get(
                system.url("reporting") + "/v1/reports/weekly",
                params={"district": BAIYUN, "week": week},
                headers=headers,
            )
            assert response.status_code == 200, response.text
            figures: dict[str, Any] = response.json()["figures"]
            empty[:] = [
                name for name in FIGURE_NAMES if name not in AGED | FROM_OTHER_DISTRICTS and not figures[name] > 0
            ]
            return None if empty else figures

        try:
            figures = await eventually(filled, within=180)
        except AssertionError as error:
            raise AssertionError(f"{error}; still empty: {', '.join(empty)}") from None
        assert set(FIGURE_NAMES) <= set(figures)
        by_worker = await client.get(
            system.url("reporting") + "/v1/reports/weekly",
            params={"district": BAIYUN, "week": week, "by": "worker"},
            headers=headers,
        )
        assert by_worker.status_code == 200, by_worker.text
        workers = [g for g in by_worker.json()["cut"]["groups"] if g["kind"] == "worker"]
        assert len(workers) == 8  # two in each of the four streets with key areas
        assert sum(g["records"] for g in workers) > 0
        assert by_worker.json()["cut"]["unassigned_communities"]  # 004 of each street, and streets with no register
        answered = await client.get(
            system.url("reporting") + "/v1/reports/quality", params={"district": BAIYUN, "week": week}, headers=headers
        )
        assert answered.status_code == 200, answered.text
        follow_up = await client.get(
            system.url("reporting") + "/v1/certificates/follow-up", params={"district": BAIYUN}, headers=headers
        )
        assert {item["follow_up"] for item in follow_up.json()["items"]} >= {"missing", "expired", "invalid"}
        spotted = re.search(r"spot check ([0-9a-f-]{36}): a place check found", done.stdout)
        assert spotted is not None, done.stdout
        ranking = await client.get(
            system.url("reporting") + f"/v1/spotchecks/{spotted[1]}/discrepancies", headers=headers
        )
        assert ranking.status_code == 200, ranking.text
        streets = ranking.json()["streets"]
        for column in ("wrong", "not_found", "missed"):  # the ranking's three kinds of finding all occur
            assert sum(street[column] for street in streets) > 0, (column, streets)
