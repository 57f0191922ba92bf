"""`shared.background.every`: the loop of every scheduled job (reminders, parked answers, outbox purge)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from shared import background
from shared.background import every, woken_or_after


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


async def test_a_wait_for_a_wake_up_ends_with_a_cancellation_that_comes_as_it_is_woken() -> None:
    """asyncio.wait_for swallowed this cancellation on Python 3.11 (it returned as if woken), and the push
    worker's and the outbox relay's loops around it ran on after their tasks were cancelled."""
    event = asyncio.Event()
    waiting = asyncio.create_task(woken_or_after(event, 10))
    await asyncio.sleep(0)  # waiting on the event
    event.set()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_a_wait_for_a_wake_up_ends_when_woken_or_after_its_time() -> None:
    event = asyncio.Event()
    started = asyncio.get_running_loop().time()
    await woken_or_after(event, 0.05)
    assert asyncio.get_running_loop().time() - started >= 0.04
    event.set()
    await asyncio.wait_for(woken_or_after(event, 10), 1)  # at once: already woken
