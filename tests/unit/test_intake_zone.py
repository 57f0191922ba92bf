"""Intake's rules meet the deployment's day (POPFLOW_TIMEZONE) in every process that prepares records.

A bulk import's rows are prepared in worker processes, each with a Submissions
of its own built from the settings (`bulk_worker_submissions`); one built
without the zone measured a row's dates against the UTC date, so a row was
refused that the same record POSTed alone was not.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import datetime

import pytest

from services.intake.bootstrap import bulk_worker_submissions
from services.intake.service_layer.submissions import Prepared, Rejected, Submissions
from services.intake.settings import IntakeSettings
from shared.auth import Principal, parse_scope
from tests.support.infra import DATA_KEYS, PERSON_KEY_SECRET
from tests.support.records import full_record

ADMIN = Principal("k1", parse_scope("admin"))
NOW = datetime.fromisoformat("2026-02-24T23:40:00+00:00")  # 07:40 on the 25th in China, 18:40 on the 24th in Bogotá


@pytest.fixture(autouse=True)
def collector_as_it_was() -> Iterator[None]:
    """A worker tunes and freezes the collector for its own process: this one is left as it was."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def worker(zone: str) -> Submissions:
    settings = IntakeSettings.model_validate(
        {"POPFLOW_PERSON_KEY_SECRET": PERSON_KEY_SECRET, "POPFLOW_DATA_KEYS": DATA_KEYS, "POPFLOW_TIMEZONE": zone}
    )
    submissions = bulk_worker_submissions(settings)
    submissions._clock = lambda: NOW  # held still: the day depends on the hour
    return submissions


@pytest.mark.parametrize(("zone", "accepted"), [("Asia/Shanghai", True), ("America/Bogota", False)])
def test_a_bulk_workers_rows_meet_today_in_the_deployments_zone(zone: str, accepted: bool) -> None:
    """A certificate checked on the 25th at 23:40 UTC on the 24th: today in China (which the UTC date
    refused), tomorrow in Bogotá (which China's date, the setting's default, accepted)."""
    body = full_record(observed_at="2026-02-24T23:30:00+00:00")
    body["certificate"]["checked_on"] = "2026-02-25"
    prepared = worker(zone).prepare(body, ADMIN)
    if accepted:
        assert isinstance(prepared, Prepared)
    else:
        assert isinstance(prepared, Rejected)
        assert prepared.problems == [(("certificate", "checked_on"), "lies in the future")]
