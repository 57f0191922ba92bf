"""Time as a dependency: the scheduled export and sign-off read it, tests replace it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep_until(self, moment: datetime) -> None: ...


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
