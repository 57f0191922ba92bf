"""Test tiers by folder: tests/unit, tests/integration, tests/e2e get their marker."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import personal_data

TIERS = {"unit", "integration", "e2e"}


RUNS_LAST = "test_zz_personal_data_scan.py"  # searches what every other test left behind


def pytest_configure(config: pytest.Config) -> None:
    personal_data.SEARCHING = True  # every test database is searched before it is dropped


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts[0]
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
    items.sort(key=lambda item: Path(str(item.fspath)).name == RUNS_LAST)  # stable: the rest keep their order
