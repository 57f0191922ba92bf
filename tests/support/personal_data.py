"""The personal data the suite made up, and where it put things, for the final scan (issue 9).

The record builders register every identity number and name they make;
`unique_name` registers every run id and database name. Databases are
searched just before they are dropped (their findings kept here), and
tests/e2e/test_zz_personal_data_scan.py, which runs last, searches every
topic of the session and what is left, then asserts nothing was found.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import ahocorasick

VALUES: set[str] = set()  # identity numbers and names, as the tests made them
NAMES: set[str] = set()  # run ids and database names this session created
FINDINGS: list[str] = []  # "where: what kind", never the value itself


# The suite switches the search on (tests/conftest.py); benchmarks reuse the same support code with
# tens of thousands of records, where searching every database they drop would take minutes.
SEARCHING = False


# When the suite runs on several workers (`make test`: pytest-xdist), each is a process with its own sets: each
# writes them into this directory at its end, and the final scan, run after all of them, reads them all.
SHARED_DIR_VARIABLE = "POPFLOW_TEST_SCAN_DIR"


def save_for_the_scan() -> None:
    """This process's values, names and findings, for a scan run in another process (no-op without the
    directory)."""
    directory = os.environ.get(SHARED_DIR_VARIABLE)
    if not directory:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    made = {"values": sorted(VALUES), "names": sorted(NAMES), "findings": FINDINGS}
    (Path(directory) / f"{worker}-{os.getpid()}.json").write_text(json.dumps(made))


def load_for_the_scan() -> int:
    """Add what the suite's other processes saved; how many processes saved (0 without the directory)."""
    directory = os.environ.get(SHARED_DIR_VARIABLE)
    if not directory:
        return 0
    saved = sorted(Path(directory).glob("*.json"))
    for file in saved:
        made = json.loads(file.read_text())
        VALUES.update(made["values"])
        NAMES.update(made["names"])
        FINDINGS.extend(made["findings"])
    return len(saved)


def used(value: str) -> str:
    VALUES.add(value)
    return value


def created(name: str) -> str:
    NAMES.add(name)
    return name


def forms(value: str) -> set[bytes]:
    """How a value can appear in bytes: UTF-8 as is, or JSON-escaped."""
    return {value.encode(), json.dumps(value)[1:-1].encode()}


def found_in(data: bytes, values: Iterable[str] | None = None) -> list[str]:
    """Which of the values (by default every one the suite made) appear in `data`, in any of their `forms`
    (for the report: their kind and length, not the value).

    One pass over `data` whatever the number of values (Aho-Corasick): looking for each value in turn
    was 2 µs a value, and the final scan reads every event of the session against thousands of values.
    Bytes are matched as bytes: both sides are read as Latin-1, one character a byte.
    """
    automaton = _suite_automaton() if values is None else _automaton(values)
    if automaton is None:
        return []
    return sorted({value for _, value in automaton.iter(data.decode("latin-1"))})


_SUITE: list[tuple[int, ahocorasick.Automaton | None]] = []  # (how many values it holds, the automaton)


def _suite_automaton() -> ahocorasick.Automaton | None:
    """The automaton of every value the suite made, made again only when values were added (they never go)."""
    if not _SUITE or _SUITE[0][0] != len(VALUES):
        _SUITE[:] = [(len(VALUES), _automaton(VALUES))]
    return _SUITE[0][1]


def _automaton(values: Iterable[str]) -> ahocorasick.Automaton | None:
    """An automaton of the values' forms, each form giving its value; None when there is none."""
    automaton = ahocorasick.Automaton()
    for value in values:
        for form in forms(value):
            automaton.add_word(form.decode("latin-1"), value)
    if not len(automaton):
        return None
    automaton.make_automaton()
    return automaton


def describe(value: str) -> str:
    return "an identity number" if len(value) == 18 and value[:17].isdigit() else f"a name ({len(value)} characters)"
