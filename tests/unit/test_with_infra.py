"""deploy/with-infra.sh runs its command on PostgreSQL or not at all: when deploy/postgres/ensure.sh fails,
it stops there instead of running the suite without POPFLOW_TEST_PG_URL (every database test then failing
with "run the suite with `make test`", after a broker was started for nothing)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def with_infra(tmp_path: Path, ensure: str) -> subprocess.CompletedProcess[str]:
    """A copy of with-infra.sh, with `ensure` as ensure.sh's body, given a broker so that it starts none."""
    (tmp_path / "deploy/postgres").mkdir(parents=True)
    shutil.copy(ROOT / "deploy/with-infra.sh", tmp_path / "deploy/with-infra.sh")
    (tmp_path / "deploy/postgres/ensure.sh").write_text(f"#!/usr/bin/env bash\n{ensure}\n")
    env = {k: v for k, v in os.environ.items() if k != "POPFLOW_TEST_PG_URL"} | {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"
    }
    return subprocess.run(
        ["bash", "deploy/with-infra.sh", "bash", "-c", 'echo "ran on [$POPFLOW_TEST_PG_URL]"'],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_failed_ensure_runs_nothing(tmp_path: Path) -> None:
    done = with_infra(tmp_path, 'echo "ensure.sh[pg:5432]: must run as root" >&2; exit 1')

    assert done.returncode != 0
    assert "must run as root" in done.stderr
    assert "ran on" not in done.stdout


def test_the_command_gets_the_last_line_ensure_prints(tmp_path: Path) -> None:
    done = with_infra(tmp_path, "echo noise; echo postgresql://popflow:popflow@127.0.0.1:5432/postgres")

    assert done.returncode == 0, done.stderr
    assert done.stdout == "ran on [postgresql://popflow:popflow@127.0.0.1:5432/postgres]\n"
