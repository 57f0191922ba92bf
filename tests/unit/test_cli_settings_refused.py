"""`popflow` with settings missing or refused: one line naming each setting, exit 4, no traceback, no value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.cli.unreachable import SETTINGS_REFUSED, refused_settings
from shared.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[2]
SECRET_TAIL = "Zm9vYmFyYmF6cXV4"  # the end of a data key too short to be one
DEV_KEY = "ZGV2ZWxvcG1lbnQta2V5LWZvci10aGUtdGVzdHMtMzI="


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


def _refusal(**settings: str) -> ValidationError:
    try:
        CommonSettings(**settings)  # type: ignore[arg-type]
    except ValidationError as error:
        return error
    raise AssertionError("the settings were taken")


def _make_run_was_here(checkout: Path, prefix: str) -> None:
    (checkout / "var").mkdir()
    (checkout / "var" / "dev-data-key").write_text(DEV_KEY)
    (checkout / "var" / "dev-person-key-secret").write_text(DEV_KEY)
    (checkout / "var" / "database-prefix").write_text(prefix)


def test_in_a_make_run_checkout_the_refusal_says_where_its_secrets_are_never_what_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`popflow dead-letters show` beside `make run` was refused for two settings whose values lay in ./var,
    and nothing said so: a newcomer could not act on it."""
    for name in ("POPFLOW_DATA_KEYS", "POPFLOW_PERSON_KEY_SECRET", "POPFLOW_TOPIC_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    _make_run_was_here(tmp_path, "popflow_1a2b3c4d_")
    said = refused_settings(_refusal(), checkout=tmp_path)
    assert said is not None
    assert f"POPFLOW_DATA_KEYS=intake:$(cat {tmp_path}/var/dev-data-key)" in said
    assert f"POPFLOW_PERSON_KEY_SECRET=$(cat {tmp_path}/var/dev-person-key-secret)" in said
    assert "POPFLOW_TOPIC_PREFIX=popflow.1a2b3c4d." in said
    assert DEV_KEY not in said


def test_the_default_prefix_and_a_checkout_without_make_run_add_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("POPFLOW_DATA_KEYS", "POPFLOW_PERSON_KEY_SECRET", "POPFLOW_TOPIC_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    bare = refused_settings(_refusal(), checkout=tmp_path)
    assert bare is not None
    assert "make run" not in bare
    _make_run_was_here(tmp_path, "popflow_")
    said = refused_settings(_refusal(), checkout=tmp_path)
    assert said is not None
    assert "make run" in said
    assert "POPFLOW_TOPIC_PREFIX" not in said
