"""What a module logged during a test, whatever configured structlog before it."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs


@contextmanager
def logged_by(monkeypatch: pytest.MonkeyPatch, *modules: ModuleType) -> Iterator[list[MutableMapping[str, Any]]]:
    """structlog's capture of what `modules` log inside the block.

    A module's logger first used under an earlier app's configure_logging (cache_logger_on_first_use) keeps
    that configuration's processors, and capture_logs alone would not see its lines: in the whole suite it
    saw none, though each test passed alone. Each module gets a new logger of its name for the block.
    """
    with capture_logs() as logs:
        for module in modules:
            monkeypatch.setattr(module, "log", structlog.get_logger(module.__name__))
        yield logs
