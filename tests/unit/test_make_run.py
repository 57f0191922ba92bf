"""`make run` and `make run-two` start on PostgreSQL or not at all: a failure of deploy/postgres/ensure.sh
(not root, apt-get without a network) stops them instead of leaving `popflow up` without an admin URL, which
it takes for "use the SQLite files"."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def make(tmp_path: Path, target: str, ensure: str) -> subprocess.CompletedProcess[str]:
    """`target` of a copy of the Makefile, with `ensure` as ensure.sh's body and a `popflow` that says what it
    was given; `-o install`: the virtualenv and the jars are not this test's."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "deploy/postgres").mkdir(parents=True)
    (tmp_path / "deploy/postgres/ensure.sh").write_text(f"#!/usr/bin/env bash\n{ensure}\n")
    popflow = tmp_path / "fake-venv/bin/popflow"
    popflow.parent.mkdir(parents=True)
    popflow.write_text('#!/usr/bin/env bash\necho "popflow $* on [$POPFLOW_PG_ADMIN_URL]"\n')
    popflow.chmod(0o755)
    return subprocess.run(
        ["make", "-s", "-o", "install", "VENV=fake-venv", target],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("target", ["run", "run-two"])
def test_a_failed_ensure_stops_the_run(tmp_path: Path, target: str) -> None:
    done = make(tmp_path, target, 'echo "ensure.sh[pg:5432]: must run as root" >&2; exit 1')

    assert done.returncode != 0
    assert "must run as root" in done.stderr
    assert "popflow" not in done.stdout


@pytest.mark.parametrize(("target", "options"), [("run", "up"), ("run-two", "up --districts 440111,440106")])
def test_the_run_gets_the_last_line_ensure_prints(tmp_path: Path, target: str, options: str) -> None:
    done = make(
        tmp_path, target, 'echo "log" >&2; echo noise; echo postgresql://popflow:popflow@127.0.0.1:5432/postgres'
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == (
        f"popflow {options} on [postgresql://popflow:popflow@127.0.0.1:5432/postgres]"
    )
