"""Reporting's composition root."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.reporting.adapters.store import ReportStore
from services.reporting.api import reports_router
from services.reporting.consumers import register_consumers
from services.reporting.settings import ReportingSettings
from shared.logging import configure_logging
from shared.runtime import build_runtime, running, service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    configure_logging(service="reporting", level=settings.log_level, fmt=settings.log_format)
    runtime = build_runtime(settings, service="reporting")
    store = ReportStore(runtime.sessions)
    zone = ZoneInfo(settings.timezone)
    register_consumers(runtime.broker, runtime.topics, store, zone)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with running(runtime, MIGRATIONS):
            yield

    return service_app(runtime, title="PopFlow reporting", routers=[reports_router(store, zone)], lifespan=lifespan)
