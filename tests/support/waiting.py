"""Waiting for eventually-consistent effects, without fixed sleeps."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any


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
