"""`shared.background.every`: the loop of every scheduled job (reminders, parked answers, outbox purge)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from shared import background
from shared.background import every


class Said:
    """Stands in for the module's logger (a logger cached on first use ignores structlog's capture)."""

    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, object]]] = []

    def warning(self, event: str, **context: object) -> None:
        self.warnings.append((event, context))


async def test_a_failed_pass_is_logged_by_its_errors_type_alone_and_the_next_pass_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said = Said()
    monkeypatch.setattr(background, "log", said)
    passes: list[int] = []
    more = asyncio.Event()

    async def one_pass() -> None:
        passes.append(len(passes))
        if len(passes) == 1:
            raise ValueError("a message that may quote 张三's data")
        if len(passes) == 3:
            more.set()

    job = asyncio.create_task(every(0.01, one_pass, failed="test pass failed"))
    await asyncio.wait_for(more.wait(), 5)
    job.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await job
    assert passes == [0, 1, 2]  # on after the failure, pass after pass
    assert said.warnings == [("test pass failed", {"error": "ValueError"})]
    assert job.cancelled()  # cancelling ends it; it never ends by itself
