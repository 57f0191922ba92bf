"""The personal data the suite made up, and where it put things, for the final scan (issue 9).

The record builders register every identity number and name they make;
`unique_name` registers every run id and database name. Databases are
searched just before they are dropped (their findings kept here), and
tests/e2e/test_zz_personal_data_scan.py, which runs last, searches every
topic of the session and what is left, then asserts nothing was found.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

VALUES: set[str] = set()  # identity numbers and names, as the tests made them
NAMES: set[str] = set()  # run ids and database names this session created
FINDINGS: list[str] = []  # "where: what kind", never the value itself


# The suite switches the search on (tests/conftest.py); benchmarks reuse the same support code with
# tens of thousands of records, where searching every database they drop would take minutes.
SEARCHING = False


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
    """Which of the values appear in `data` (for the report: their kind and length, not the value)."""
    return [v for v in (VALUES if values is None else values) if any(f in data for f in forms(v))]


def describe(value: str) -> str:
    return "an identity number" if len(value) == 18 and value[:17].isdigit() else f"a name ({len(value)} characters)"
