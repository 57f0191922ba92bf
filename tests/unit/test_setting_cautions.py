"""Settings that work but give something up are said at start-up: each service logs them as a warning."""

from __future__ import annotations

import pytest

from services.intake.settings import IntakeSettings
from shared import runtime
from shared.settings import CommonSettings
from tests.support.infra import DATA_KEYS, PERSON_KEY_SECRET
from tests.support.logs import logged_by


def settings(monkeypatch: pytest.MonkeyPatch, keep_days: str, retention_days: str) -> CommonSettings:
    monkeypatch.setenv("POPFLOW_PERSON_KEY_SECRET", PERSON_KEY_SECRET)
    monkeypatch.setenv("POPFLOW_DATA_KEYS", DATA_KEYS)
    monkeypatch.setenv("POPFLOW_OUTBOX_KEEP_DAYS", keep_days)
    monkeypatch.setenv("POPFLOW_TOPIC_RETENTION_DAYS", retention_days)
    return CommonSettings()


def test_no_outbox_copy_and_topics_that_expire_leave_no_copy_of_an_event_past_the_retention(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [(given, given_up)] = settings(monkeypatch, "0", "30").cautions()
    assert given == "POPFLOW_OUTBOX_KEEP_DAYS=0 POPFLOW_TOPIC_RETENTION_DAYS=30"
    assert "no copy of an event outlives the topics' retention" in given_up
    assert "after 30 day(s)" in given_up


@pytest.mark.parametrize(
    ("keep_days", "retention_days"),
    [
        ("0", "-1"),  # the topics keep every event for ever: they are a copy that lasts
        ("7", "30"),  # the outbox keeps a week's events beside the topics
        ("7", "-1"),  # the defaults
    ],
)
def test_settings_that_keep_a_copy_are_not_cautioned(
    monkeypatch: pytest.MonkeyPatch, keep_days: str, retention_days: str
) -> None:
    assert settings(monkeypatch, keep_days, retention_days).cautions() == []


def copies(monkeypatch: pytest.MonkeyPatch, replication: str, in_sync: str | None) -> CommonSettings:
    monkeypatch.setenv("POPFLOW_TOPIC_REPLICATION", replication)
    if in_sync is not None:
        monkeypatch.setenv("POPFLOW_TOPIC_MIN_IN_SYNC", in_sync)
    return settings(monkeypatch, "7", "-1")


def test_three_copies_acknowledged_by_one_are_cautioned(monkeypatch: pytest.MonkeyPatch) -> None:
    [(given, given_up)] = copies(monkeypatch, "3", "1").cautions()
    assert given == "POPFLOW_TOPIC_REPLICATION=3 POPFLOW_TOPIC_MIN_IN_SYNC=1"
    assert "held by one broker only" in given_up


@pytest.mark.parametrize(("replication", "in_sync"), [("2", None), ("3", "3")])
def test_every_copy_in_sync_is_cautioned_since_one_broker_down_stops_writes(
    monkeypatch: pytest.MonkeyPatch, replication: str, in_sync: str | None
) -> None:
    monkeypatch.setenv("POPFLOW_TOPIC_MIN_IN_SYNC", in_sync or replication)
    [(given, given_up)] = copies(monkeypatch, replication, None).cautions()
    assert given == f"POPFLOW_TOPIC_REPLICATION={replication} POPFLOW_TOPIC_MIN_IN_SYNC={in_sync or replication}"
    assert "one broker down stops every write" in given_up


@pytest.mark.parametrize(("replication", "in_sync"), [("1", None), ("2", None), ("3", None), ("5", "3")])
def test_copies_that_survive_a_broker_are_not_cautioned(
    monkeypatch: pytest.MonkeyPatch, replication: str, in_sync: str | None
) -> None:
    assert copies(monkeypatch, replication, in_sync).cautions() == []


def test_a_service_starting_says_each_caution_in_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    settings(monkeypatch, "0", "30")
    with logged_by(monkeypatch, runtime) as logs:
        runtime.say_cautions(IntakeSettings())
    assert [(line["event"], line["log_level"], line["settings"]) for line in logs] == [
        ("settings give something up", "warning", "POPFLOW_OUTBOX_KEEP_DAYS=0 POPFLOW_TOPIC_RETENTION_DAYS=30")
    ]
