"""Notification's composition root."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from services.notification.adapters.inbox import Inbox
from services.notification.api import inbox_router
from services.notification.consumers import register_consumers
from services.notification.settings import NotificationSettings
from shared.logging import configure_logging
from shared.runtime import build_runtime, running, service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: NotificationSettings | None = None) -> FastAPI:
    settings = settings or NotificationSettings()
    configure_logging(service="notification", level=settings.log_level, fmt=settings.log_format)
    runtime = build_runtime(settings, service="notification")
    inbox = Inbox(runtime.sessions)
    register_consumers(runtime.broker, runtime.topics, inbox)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with running(runtime, MIGRATIONS):
            yield

    return service_app(runtime, title="PopFlow notification", routers=[inbox_router(inbox)], lifespan=lifespan)
