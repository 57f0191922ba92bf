"""Waiting for eventually-consistent effects, without fixed sleeps."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.reporting.domain.weeks import report_week, report_week_of


async def eventually(probe: Callable[[], Awaitable[Any] | Any], *, within: float = 60) -> Any:
    """Poll `probe` (a coroutine function, or a plain one reading in-process state) until it returns
    something truthy; fail with its last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: Any = None
    while loop.time() < deadline:
        last = probe()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(0.3)
    raise AssertionError(f"condition not met within {within} s (last: {last!r})")


async def past_a_cut_off_due_within(margin: timedelta, zone: ZoneInfo) -> None:
    """Wait out a report week's cut-off (Friday 10:00 in `zone`) due within `margin`, so that a test whose
    steps must all count in one week does not straddle two. It waits only in the minutes before a cut-off."""
    now = datetime.now(UTC)
    ends_at = report_week(report_week_of(now, zone), zone).ends_at
    if ends_at - now < margin:
        await asyncio.sleep((ends_at - now).total_seconds() + 1)
