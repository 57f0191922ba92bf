"""Background tasks a service runs beside its HTTP server (outbox relay, push worker, fold, schedules).

The runtime starts them after the broker and stops them before it; a task that
ends or dies while the service runs makes /readyz answer 503 and says which.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)


async def woken_or_after(event: asyncio.Event, seconds: float) -> None:
    """Wait until `event` is set or `seconds` have passed, whichever comes first; a cancellation always ends it.

    Not `asyncio.wait_for(event.wait(), seconds)`: on Python 3.11 a cancellation that comes as the event is
    set is swallowed by it (CPython gh-86296), and a loop around it then runs on after its task was cancelled.
    The push worker's loop did so when a test cancelled it as a freed slot woke it, and the test waited out
    its timeout: a service stopping at that moment would have waited for ever.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


@dataclass(frozen=True)
class BackgroundTask:
    name: str
    run: Callable[[], Awaitable[None]]
    # once per deployment however many replicas run (outbox relays, schedules): only the
    # replica that leads (shared/db/leader.py) runs it; False for work shared out by
    # Kafka partitions or row locks (consumers, the push worker)
    single: bool = False


@dataclass
class BackgroundTasks:
    """The running tasks of one service."""

    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def start(self, specs: Sequence[BackgroundTask]) -> None:
        for spec in specs:
            task = asyncio.create_task(_logged(spec), name=spec.name)
            self.tasks[spec.name] = task

    def dead(self) -> list[str]:
        """Names of tasks that ended while they should still run."""
        return sorted(name for name, task in self.tasks.items() if task.done())

    async def alive(self) -> bool:
        return not self.dead()

    async def stop(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        for task in self.tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()


async def every(interval_s: float, one_pass: Callable[[], Awaitable[object]], *, failed: str) -> None:
    """Run `one_pass` now and every `interval_s` until cancelled (a schedule's job). A pass that fails is
    logged as `failed`, with its error's type alone (a message may quote data), and tried at the next."""
    while True:
        try:
            await one_pass()
        except Exception as error:
            log.warning(failed, error=type(error).__name__)
        await asyncio.sleep(interval_s)


async def _logged(spec: BackgroundTask) -> None:
    try:
        await spec.run()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("background task died", task=spec.name, error=type(exc).__name__)
        raise
    log.error("background task ended", task=spec.name)
