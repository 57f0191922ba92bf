"""The waits with a deadline (a readiness check, a metric's read, a webhook host's resolution): a wait that
outlasts its deadline gives its fallback, and a cancellation always cancels, even one that comes as the awaited
work finishes (which `asyncio.wait_for` swallowed on Python 3.11, returning the result instead)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from ipaddress import ip_address
from typing import Any

import pytest
from structlog.testing import capture_logs

from services.notification.adapters import destinations
from services.notification.adapters.destinations import DestinationGuard
from services.notification.domain.destinations import Address, DestinationPolicy
from shared import metrics
from shared.http import health
from shared.metrics import CallbackGauge

PUBLIC = ip_address("93.184.216.34")


async def test_a_check_without_an_answer_is_named_not_ready_after_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(health, "CHECK_TIMEOUT_S", 0.05)

    async def hangs() -> bool:
        await asyncio.Event().wait()
        return True

    assert await health._failure(hangs) == "no answer within 0.05 s"


async def test_a_metric_without_an_answer_shows_no_samples_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "READ_TIMEOUT_S", 0.05)
    answers: list[list[tuple[Sequence[str], float]]] = [[(("a",), 1.0)]]

    async def read() -> list[tuple[Sequence[str], float]]:
        if answers:
            return answers.pop()
        await asyncio.Event().wait()
        return []

    gauge = CallbackGauge("popflow_test_gauge", "a test gauge", ["label"], read)
    await gauge.refresh()
    with capture_logs() as logs:
        await gauge.refresh()
    assert [family.samples for family in gauge.collect()] == [[]]
    assert [(line["event"], line["error"]) for line in logs] == [("metric could not be read", "TimeoutError")]


async def test_a_host_that_does_not_resolve_in_time_gives_no_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(destinations, "RESOLVE_TIMEOUT_S", 0.05)

    async def hangs(host: str, port: int) -> list[Address]:
        await asyncio.Event().wait()
        return [PUBLIC]

    found = await DestinationGuard(DestinationPolicy(), hangs).check("https://hooks.example.org/cases")
    assert (found.refusal, found.addresses) == (None, [])


async def _cancelled_as_it_finishes(
    wait: Callable[[Callable[[], Awaitable[bool]]], Coroutine[Any, Any, object]],
) -> None:
    """Cancel a task whose awaited work finishes in the same turn of the loop; the task must end cancelled."""
    answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    async def work() -> bool:
        return await answer

    task = asyncio.create_task(wait(work))
    for _ in range(3):  # the task reaches the awaited work
        await asyncio.sleep(0)
    answer.set_result(True)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_readiness_check_cancelled_as_it_answers_is_cancelled() -> None:
    await _cancelled_as_it_finishes(lambda work: health._failure(work))


async def test_a_metric_read_cancelled_as_it_answers_is_cancelled() -> None:
    async def refresh(work: Callable[[], Awaitable[bool]]) -> None:
        async def read() -> list[tuple[tuple[str, ...], float]]:
            await work()
            return [(("a",), 1.0)]

        await CallbackGauge("popflow_test_gauge", "a test gauge", ["label"], read).refresh()

    await _cancelled_as_it_finishes(refresh)


async def test_a_resolution_cancelled_as_it_answers_is_cancelled() -> None:
    async def check(work: Callable[[], Awaitable[bool]]) -> None:
        async def resolve(host: str, port: int) -> list[Address]:
            await work()
            return [PUBLIC]

        await DestinationGuard(DestinationPolicy(), resolve).check("https://hooks.example.org/cases")

    await _cancelled_as_it_finishes(check)
