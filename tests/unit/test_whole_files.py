"""A file written through shared.files appears whole or not at all, with the permissions `open` would give it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from shared.files import whole_file


def test_the_file_appears_under_its_name_only_once_complete(tmp_path: Path) -> None:
    target = tmp_path / "2027-W08-440111.xlsx"
    with whole_file(target) as file:
        file.write(b"PK\x03\x04 first half")
        assert not target.exists()
        [partial] = tmp_path.iterdir()
        assert partial.name.startswith(".2027-W08-440111.xlsx.")
        assert partial.name.endswith(".part")
        file.write(b" second half")
    assert target.read_bytes() == b"PK\x03\x04 first half second half"
    assert [path.name for path in tmp_path.iterdir()] == [target.name]


def test_a_failure_midway_leaves_the_old_file_as_it_was_and_nothing_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "rows.rejected.csv"
    target.write_bytes(b"the last complete file")

    def interrupted() -> None:
        with whole_file(target, encoding="utf-8-sig", newline="") as file:
            file.write("reporting_street,_errors\r\n")
            raise KeyboardInterrupt  # a clerk's Ctrl-C halfway through

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert target.read_bytes() == b"the last complete file"
    assert [path.name for path in tmp_path.iterdir()] == [target.name]


def test_text_is_written_in_the_encoding_asked_for(tmp_path: Path) -> None:
    target = tmp_path / "rows.rejected.csv"
    with whole_file(target, encoding="utf-8-sig", newline="") as file:
        file.write("街道\r\n")
    assert target.read_bytes() == "\ufeff街道\r\n".encode()


def test_the_file_gets_the_permissions_the_umask_allows_as_open_would_give(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        with whole_file(tmp_path / "export.xlsx") as file:
            file.write(b"x")
        (tmp_path / "plain").write_bytes(b"x")
    finally:
        os.umask(previous)
    assert (tmp_path / "export.xlsx").stat().st_mode & 0o777 == 0o640 == (tmp_path / "plain").stat().st_mode & 0o777


def test_a_file_of_personal_data_is_readable_by_its_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        with whole_file(tmp_path / "rows.rejected.csv", mode=0o600) as file:
            file.write(b"x")
    finally:
        os.umask(previous)
    assert (tmp_path / "rows.rejected.csv").stat().st_mode & 0o777 == 0o600


def test_a_temporary_file_left_by_a_crash_is_removed_by_the_next_write_an_hour_on(tmp_path: Path) -> None:
    target = tmp_path / "2027-W08-440111.xlsx"
    crashed, writing = tmp_path / f".{target.name}.0badc0de.part", tmp_path / f".{target.name}.5eed5eed.part"
    other = tmp_path / ".2027-W08-440111005.xlsx.0badc0de.part"  # another target's: not this write's to sweep
    for path in (crashed, writing, other):
        path.write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    os.utime(crashed, (two_hours_ago, two_hours_ago))
    os.utime(other, (two_hours_ago, two_hours_ago))
    with whole_file(target) as file:
        file.write(b"whole")
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([target.name, writing.name, other.name])
