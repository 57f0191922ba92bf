"""Test tiers by folder: tests/unit, tests/integration, tests/e2e get their marker."""

from __future__ import annotations

import warnings
from pathlib import Path

import anyio
import pytest

from tests.support import personal_data

TIERS = {"unit", "integration", "e2e"}


RUNS_LAST = "test_zz_personal_data_scan.py"  # searches what every other test left behind


def pytest_configure(config: pytest.Config) -> None:
    personal_data.SEARCHING = True  # every test database is searched before it is dropped
    _import_anyio_now()


def pytest_sessionfinish(session: pytest.Session) -> None:
    personal_data.save_for_the_scan()  # for the final scan, when it runs in a process of its own


def _import_anyio_now() -> None:
    """anyio imports its parts when first used (anyio._lazyimport), and anyio is a pytest plugin, so pytest
    rewrites each part as it comes: a test's request in a worker thread (Starlette's file responses,
    to_thread) then parsed a module beside another thread's parse, which CPython 3.11 does not survive
    ("SystemError: AST constructor recursion depth mismatch", once in a CI run). All of them now, before
    any test runs a thread."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its deprecated aliases say so when read
        for name in dir(anyio):
            getattr(anyio, name)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts[0]
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
    items.sort(key=lambda item: Path(str(item.fspath)).name == RUNS_LAST)  # stable: the rest keep their order
