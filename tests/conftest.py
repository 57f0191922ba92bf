"""Test tiers by folder: tests/unit, tests/integration, tests/e2e get their marker."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import structlog

from tests.support import personal_data

TIERS = {"unit", "integration", "e2e"}


RUNS_LAST = "test_zz_personal_data_scan.py"  # searches what every other test left behind


def pytest_configure(config: pytest.Config) -> None:
    personal_data.SEARCHING = True  # every test database is searched before it is dropped
    _import_anyio_now()


def pytest_sessionfinish(session: pytest.Session) -> None:
    personal_data.save_for_the_scan()  # for the final scan, when it runs in a process of its own


@pytest.fixture(scope="module", autouse=True)
def _logging_as_the_module_found_it() -> Iterator[None]:
    """A module that makes an app in its own process (`create_app`, `configure_logging`) leaves the root logger
    at INFO with a handler on whatever stderr was then, structlog configured, and context bound: the next module
    on the worker inherited them. A CLI test there read alembic's migration lines in its command's output. Each
    module puts back the root logger's handlers and level, structlog's configuration and its bound context;
    within a module, its own fixtures' configuration holds. A module's logger that structlog cached under another
    configuration (`cache_logger_on_first_use`) keeps it: a test reads such a logger's lines with
    `tests.support.logs.logged_by`, not with `capture_logs` alone."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)
    structlog.contextvars.clear_contextvars()


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
