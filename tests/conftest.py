"""Test tiers by folder: tests/unit, tests/integration, tests/e2e get their marker."""

from __future__ import annotations

from pathlib import Path

import pytest

TIERS = {"unit", "integration", "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts[0]
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
