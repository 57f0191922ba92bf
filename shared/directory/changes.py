"""Divisions that changed between directory editions, and where a retired code leads now.

Streets are merged, split, renamed and renumbered between editions of the
national directory. `retired.csv` lists every code an older edition had and
the current one has not; `changes.csv` says, for the changes that are known,
which current code took over (old code -> new code, from when). A code is
therefore one of: current, retired with one successor (follow it), retired
with several (a split: a person must choose), retired with none known, or
unknown (in no edition at all: a typing error, not a change).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path

from shared.directory.divisions import DATA_DIR, DivisionDirectory, load_directory


class CodeStatus(StrEnum):
    CURRENT = "current"
    SUCCEEDED = "succeeded"  # retired; one current successor
    SPLIT = "split"  # retired; several successors, a person must choose
    RETIRED = "retired"  # retired; no successor in the change table
    UNKNOWN = "unknown"  # in no edition the directory knows


@dataclass(frozen=True, slots=True)
class Change:
    old_code: str
    new_code: str
    effective_from: date
    kind: str  # recode, merge, split, rename
    note: str


@dataclass(frozen=True, slots=True)
class Edition:
    edition: str
    effective_from: date
    published_on: date


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a code stands for today."""

    code: str
    status: CodeStatus
    successors: tuple[str, ...] = ()
    since: date | None = None  # when the (last) change took effect

    @property
    def successor(self) -> str | None:
        return self.successors[0] if self.status is CodeStatus.SUCCEEDED else None

    def note(self) -> str:
        """One line for a person: what happened to the code. Holds codes only, nothing personal."""
        since = f" since {self.since.isoformat()}" if self.since else ""
        if self.status is CodeStatus.SUCCEEDED:
            return f"{self.code} was retired{since}; its successor {self.successors[0]} is used"
        if self.status is CodeStatus.SPLIT:
            return f"{self.code} was split{since} into {', '.join(self.successors)}; choose one"
        if self.status is CodeStatus.RETIRED:
            return f"{self.code} was retired and the change table names no successor"
        if self.status is CodeStatus.UNKNOWN:
            return f"{self.code} is in no edition of the national directory"
        return f"{self.code} is current"


@dataclass(frozen=True, slots=True)
class DivisionChanges:
    """The retired codes of earlier editions and the change table that leads from them."""

    directory: DivisionDirectory
    retired: dict[str, str]  # code -> last edition that had it
    changes: dict[str, tuple[Change, ...]] = field(default_factory=dict)
    editions: tuple[Edition, ...] = ()

    def resolve(self, code: str) -> Resolution:
        """Follow the change table from `code` to the current codes it leads to (chains included)."""
        if self.directory.exists(code):
            return Resolution(code, CodeStatus.CURRENT, (code,))
        if code not in self.retired and code not in self.changes:
            return Resolution(code, CodeStatus.UNKNOWN)
        current, since = self._follow(code)
        if not current:
            return Resolution(code, CodeStatus.RETIRED, since=since)
        status = CodeStatus.SUCCEEDED if len(current) == 1 else CodeStatus.SPLIT
        return Resolution(code, status, tuple(sorted(current)), since)

    def _follow(self, code: str) -> tuple[set[str], date | None]:
        current: set[str] = set()
        since: date | None = None
        todo, seen = [code], {code}
        while todo:
            for change in self.changes.get(todo.pop(), ()):
                since = max(since, change.effective_from) if since else change.effective_from
                if self.directory.exists(change.new_code):
                    current.add(change.new_code)
                elif change.new_code not in seen:
                    seen.add(change.new_code)
                    todo.append(change.new_code)
        return current, since


def read_changes(path: Path) -> dict[str, tuple[Change, ...]]:
    """changes.csv: old_code,new_code,effective_from,kind,note (several rows per old code for a split)."""
    table: dict[str, list[Change]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            change = Change(
                row["old_code"], row["new_code"], date.fromisoformat(row["effective_from"]), row["kind"], row["note"]
            )
            table.setdefault(change.old_code, []).append(change)
    return {code: tuple(rows) for code, rows in table.items()}


def _read_retired(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["code"]: row["last_edition"] for row in csv.DictReader(handle)}


def _read_editions(path: Path) -> tuple[Edition, ...]:
    with path.open(encoding="utf-8", newline="") as handle:
        return tuple(
            Edition(row["edition"], date.fromisoformat(row["effective_from"]), date.fromisoformat(row["published_on"]))
            for row in csv.DictReader(handle)
        )


@functools.cache
def load_changes(data_dir: Path = DATA_DIR) -> DivisionChanges:
    """The vendored editions, retired codes and change table, with the current directory."""
    return DivisionChanges(
        directory=load_directory(data_dir),
        retired=_read_retired(data_dir / "retired.csv"),
        changes=read_changes(data_dir / "changes.csv"),
        editions=_read_editions(data_dir / "editions.csv"),
    )
