"""The vendored change table: every row leads from a retired code to a current one, and codes resolve."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from shared.directory import CodeStatus, load_changes, load_directory
from shared.directory.changes import Change, DivisionChanges
from shared.directory.divisions import DATA_DIR

pytestmark = pytest.mark.unit


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_change_leads_from_a_retired_code_to_a_current_one_of_the_same_level() -> None:
    directory, retired = load_directory(), {row["code"] for row in _rows("retired.csv")}
    for row in _rows("changes.csv"):
        assert row["old_code"] in retired, row
        assert not directory.exists(row["old_code"]), row
        assert directory.exists(row["new_code"]), row
        assert len(row["old_code"]) == len(row["new_code"]), row
        assert row["kind"] in {"recode", "merge", "split", "rename"}, row


def test_retired_codes_are_in_no_current_table() -> None:
    directory = load_directory()
    assert not [row["code"] for row in _rows("retired.csv") if directory.exists(row["code"])]


@pytest.mark.parametrize(
    ("code", "status", "successors"),
    [
        ("440113017", CodeStatus.CURRENT, ("440113017",)),  # 沙湾街道, Panyu, current
        ("440113118", CodeStatus.SUCCEEDED, ("440113017",)),  # 沙湾镇 became 沙湾街道
        ("320611002", CodeStatus.SUCCEEDED, ("320613017",)),  # 唐闸镇街道 of 港闸区, now in 崇川区
        ("320611", CodeStatus.SUCCEEDED, ("320613",)),  # 港闸区 merged into 崇川区
        ("330104", CodeStatus.SPLIT, ("330102", "330114")),  # 江干区 split
        ("445102001", CodeStatus.RETIRED, ()),  # 湘桥街道: retired, the data names no successor
        ("440111999", CodeStatus.UNKNOWN, ()),  # never a street
    ],
)
def test_the_vendored_examples_resolve(code: str, status: CodeStatus, successors: tuple[str, ...]) -> None:
    resolution = load_changes().resolve(code)
    assert (resolution.status, resolution.successors) == (status, successors)


def test_a_chain_of_changes_is_followed_to_the_current_code() -> None:
    day = date(2022, 10, 31)
    changes = DivisionChanges(
        directory=load_directory(),
        retired={"440113901": "2019", "440113902": "2020"},
        changes={
            "440113901": (Change("440113901", "440113902", date(2020, 6, 30), "rename", ""),),
            "440113902": (Change("440113902", "440113017", day, "merge", ""),),
        },
    )
    resolution = changes.resolve("440113901")
    assert (resolution.successor, resolution.since) == ("440113017", day)
    assert "440113017" in resolution.note()


def test_editions_are_in_order_and_the_last_is_the_vendored_directory() -> None:
    editions = load_changes().editions
    assert [e.edition for e in editions] == sorted(e.edition for e in editions)
    assert editions[-1].effective_from == date(2023, 6, 30)
    assert "2023 edition" in Path(DATA_DIR / "PROVENANCE.md").read_text(encoding="utf-8")
