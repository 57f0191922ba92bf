"""Serve a service's app factory with uvicorn, stopping cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import uvicorn

from shared.settings import ServiceSettings


def serve(factory: str, settings: ServiceSettings) -> None:
    uvicorn.run(
        factory,
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,  # our structlog pipeline handles uvicorn's loggers
        access_log=False,
        # the C event loop and HTTP parser: the per-request Python work is what limits a service
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=10,
    )
