"""The development secrets `popflow up` keeps under ./var are readable by their owner alone.

A newcomer's var/key-store-url was 0600 (it holds the database password) while var/dev-data-key and
var/dev-person-key-secret, which open the personal data in the machine's shared PostgreSQL, were 0644.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.cli import local


@pytest.fixture
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(local, "ROOT", tmp_path)
    return tmp_path / "var"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_secret_is_its_owners_alone(var: Path) -> None:
    first = local._development_secret("dev-data-key", b"c2VjcmV0")
    assert first == "c2VjcmV0"
    assert mode(var / "dev-data-key") == 0o600
    assert local._development_secret("dev-data-key", b"other") == first  # kept, not made again


def test_a_secret_an_earlier_run_left_readable_is_closed(var: Path) -> None:
    var.mkdir()
    (var / "dev-person-key-secret").write_text("kept")
    (var / "dev-person-key-secret").chmod(0o644)
    assert local._development_secret() == "kept"
    assert mode(var / "dev-person-key-secret") == 0o600
