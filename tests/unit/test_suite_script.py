"""deploy/test-suite.sh (`make test`): the suite on workers, then the personal-data scan after it, alone; the
run fails when either does, and the scan always runs, even after a failed suite."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def suite_script(tmp_path: Path, *, suite_exits: int, scan_exits: int) -> tuple[int, list[str]]:
    """A copy of test-suite.sh whose pytest records its arguments and the scan directory, and exits as told:
    (the script's exit code, one line a pytest call)."""
    (tmp_path / "deploy").mkdir()
    (tmp_path / ".venv/bin").mkdir(parents=True)
    shutil.copy(ROOT / "deploy/test-suite.sh", tmp_path / "deploy/test-suite.sh")
    pytest_stand_in = tmp_path / ".venv/bin/pytest"
    pytest_stand_in.write_text(
        "#!/usr/bin/env bash\n"
        'echo "$* | scan dir: $([[ -d $POPFLOW_TEST_SCAN_DIR ]] && echo yes)" >> calls.txt\n'
        f'if [[ "$*" == *--deselect* ]]; then exit {suite_exits}; fi\n'
        f"exit {scan_exits}\n"
    )
    pytest_stand_in.chmod(0o755)
    done = subprocess.run(
        ["bash", "deploy/test-suite.sh", "-x"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    return done.returncode, (tmp_path / "calls.txt").read_text().splitlines()


def test_the_suite_runs_on_two_workers_without_the_scan_then_the_scan_alone(tmp_path: Path) -> None:
    code, calls = suite_script(tmp_path, suite_exits=0, scan_exits=0)
    assert code == 0
    assert calls == [
        "-n 2 --dist loadfile --durations=20 --deselect tests/e2e/test_zz_personal_data_scan.py -x | scan dir: yes",
        "-q tests/e2e/test_zz_personal_data_scan.py | scan dir: yes",
    ]


@pytest.mark.parametrize(("suite", "scan", "expected"), [(1, 0, 1), (0, 1, 1), (2, 1, 2)])
def test_a_failure_of_either_fails_the_run_and_the_scan_runs_anyway(
    tmp_path: Path, suite: int, scan: int, expected: int
) -> None:
    code, calls = suite_script(tmp_path, suite_exits=suite, scan_exits=scan)
    assert code == expected
    assert len(calls) == 2
