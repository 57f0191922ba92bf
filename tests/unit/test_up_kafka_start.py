"""`popflow up` says at once why the Kafka it starts did not come up, from Kafka's log, instead of waiting the
three minutes of its readiness check and ending with "not ready" alone."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import typer

from services.cli import local_processes
from services.cli.local_processes import Children, StopSignals, start_kafka
from tests.support.system import free_port


@pytest.mark.timeout(90)  # the readiness check gives up after 180 s: a wait that long is the failure
def test_a_kafka_that_exits_at_once_is_reported_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "deploy").symlink_to(local_processes.ROOT / "deploy")
    monkeypatch.setattr(local_processes, "ROOT", tmp_path)  # var/kafka.log goes there
    children: Children = {}
    started = time.monotonic()

    # start.sh refuses a setting before it touches anything
    with pytest.raises(typer.Exit):
        start_kafka(free_port(), {**os.environ, "KAFKA_REPLICATION": "three"}, children, StopSignals())

    assert time.monotonic() - started < 60
    said = " ".join(capsys.readouterr().out.split())
    assert "Kafka exited (2) during start-up" in said
    assert "KAFKA_REPLICATION must be a count" in said
    assert children["kafka"].poll() == 2
