"""Time as a dependency: every service reads the time through a Clock, tests hold it still."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    async def sleep_until(self, moment: datetime) -> None:
        """Return at `moment` (at once when it has passed)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, moment: datetime) -> None:
        # Sleep in steps of at most a minute and look again: the machine may
        # have slept or its clock jumped.
        left = (moment - self.now()).total_seconds()
        while left > 0:
            await asyncio.sleep(min(left, 60))
            left = (moment - self.now()).total_seconds()


class FixedClock:
    """A clock that stays where a test puts it, and moves only when told."""

    def __init__(self, at: datetime) -> None:
        self.at = at
        self._moved: asyncio.Event | None = None

    def now(self) -> datetime:
        return self.at

    def advance_to(self, moment: datetime) -> None:
        self.at = moment
        if self._moved is not None:
            self._moved.set()

    async def sleep_until(self, moment: datetime) -> None:
        while self.at < moment:
            self._moved = asyncio.Event()
            await self._moved.wait()
