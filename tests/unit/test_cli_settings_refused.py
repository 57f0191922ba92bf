"""`popflow` with settings missing or refused: one line naming each setting, exit 4, no traceback, no value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from services.cli.unreachable import SETTINGS_REFUSED

ROOT = Path(__file__).resolve().parents[2]
SECRET_TAIL = "Zm9vYmFyYmF6cXV4"  # the end of a data key too short to be one


def popflow(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POPFLOW_", "KAFKA_"))} | settings
    command = [sys.executable, "-c", "from services.cli.main import main; main()", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_missing_settings_are_named_on_one_line() -> None:
    done = popflow("dead-letters", "show")
    assert done.returncode == SETTINGS_REFUSED
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "POPFLOW_DATA_KEYS: Field required" in lines[0]
    assert "POPFLOW_PERSON_KEY_SECRET: Field required" in lines[0]


def test_a_refused_value_is_described_not_shown() -> None:
    done = popflow("dead-letters", "show", POPFLOW_DATA_KEYS=f"k1:{SECRET_TAIL}", POPFLOW_PERSON_KEY_SECRET="s" * 32)
    assert done.returncode == SETTINGS_REFUSED
    assert "POPFLOW_DATA_KEYS" in done.stderr
    assert "must decode to 16, 24 or 32 bytes" in done.stderr
    assert SECRET_TAIL not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
