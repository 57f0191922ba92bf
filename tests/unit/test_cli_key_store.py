"""`popflow keys` finds the key store `popflow up` chose in this checkout: a key made after `make run` is one
its services know (a newcomer's first `popflow keys create` was answered 401, made in ./var/keys.db).
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import keys
from services.cli.keys import DEFAULT_STORE, remember_store, this_checkouts_store


@pytest.fixture
def key_store_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    file = tmp_path / "var" / "key-store-url"
    monkeypatch.setattr(keys, "KEY_STORE_FILE", file)
    monkeypatch.delenv("POPFLOW_KEYS_DATABASE_URL", raising=False)
    return file


def test_without_a_run_the_services_default_store(key_store_file: Path) -> None:
    assert not key_store_file.exists()
    assert this_checkouts_store() == DEFAULT_STORE


def test_the_store_up_chose_is_kept_for_its_owner_alone(key_store_file: Path) -> None:
    url = "postgresql+asyncpg://popflow:secret@127.0.0.1:5432/popflow_keys"
    key_store_file.parent.mkdir()
    key_store_file.write_text("sqlite+aiosqlite:///./var/older.db\n")
    key_store_file.chmod(0o644)
    remember_store(url)
    assert this_checkouts_store() == url
    assert stat.S_IMODE(key_store_file.stat().st_mode) == 0o600  # the URL holds the database's password


def test_keys_create_writes_to_the_remembered_store(key_store_file: Path, tmp_path: Path) -> None:
    remembered = f"sqlite+aiosqlite:///{tmp_path}/remembered.db"
    remember_store(remembered)
    runner = CliRunner()
    made = runner.invoke(keys.app, ["create", "--scope", "street:440111005", "--label", "clerk"])
    assert made.exit_code == 0, made.output
    key_id = made.output.split()[2].rstrip(",")
    listed = runner.invoke(keys.app, ["list"])
    assert key_id in listed.output
    # a URL given explicitly still wins over the remembered one
    elsewhere = f"sqlite+aiosqlite:///{tmp_path}/elsewhere.db"
    listed_elsewhere = runner.invoke(keys.app, ["list"], env={"POPFLOW_KEYS_DATABASE_URL": elsewhere})
    assert listed_elsewhere.exit_code == 0, listed_elsewhere.output
    assert key_id not in listed_elsewhere.output
    assert (tmp_path / "remembered.db").exists()
    assert (tmp_path / "elsewhere.db").exists()


def test_keys_list_piped_prints_whole_rows_a_tab_apart(key_store_file: Path, tmp_path: Path) -> None:
    """Piped, rich's table was cut to 80 columns: key ids, scopes and times came out as 'pf_3…' and '2027-…'."""
    remember_store(f"sqlite+aiosqlite:///{tmp_path}/keys.db")
    runner = CliRunner()
    label = "clerk of the street office of a long-named street, kept whole"
    made = runner.invoke(keys.app, ["create", "--scope", "street:440111005", "--label", label])
    key_id = made.output.split()[2].rstrip(",")
    listed = runner.invoke(keys.app, ["list"])  # CliRunner's output is no terminal, as a pipe is not
    header, row = listed.output.splitlines()
    assert header.split("\t") == ["key id", "scope", "role", "label", "created", "revoked"]
    cells = row.split("\t")
    assert cells[:4] == [key_id, "street:440111005", "office", label]
    assert len(cells[4]) == len("2027-03-01T10:00:00+00:00")
