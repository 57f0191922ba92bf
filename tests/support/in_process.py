"""A service's app served by uvicorn inside the test's own event loop.

For end-to-end runs that need to hold something of a service in the test's
hand, such as routing's clock: the app is the one `create_app` builds for the
process, lifespan included (migrations, broker, background tasks).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from tests.support.waiting import eventually


@asynccontextmanager
async def served(app: FastAPI, port: int) -> AsyncIterator[None]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            task.result()  # a failed start-up raises here, not after the whole wait
        return server.started

    try:
        await eventually(started, within=90)
        yield
    finally:
        server.should_exit = True
        await task
