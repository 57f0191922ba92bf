"""Routing's composition root."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from services.routing.api import decisions_router
from services.routing.handlers import RecordRouter
from services.routing.settings import RoutingSettings
from shared.events import RecordSubmitted
from shared.kafka.consuming import subscribe
from shared.logging import configure_logging
from shared.runtime import build_runtime, running, service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: RoutingSettings | None = None) -> FastAPI:
    settings = settings or RoutingSettings()
    configure_logging(service="routing", level=settings.log_level, fmt=settings.log_format)
    runtime = build_runtime(settings, service="routing")
    router = RecordRouter(
        runtime.sessions,
        runtime.publisher,
        key_secret=settings.person_key_secret.get_secret_value().encode(),
    )
    subscribe(
        runtime.broker,
        runtime.topics,
        topic=RecordSubmitted.TOPIC,
        group="routing",
        handler=router.on_record_submitted,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with running(runtime, MIGRATIONS):
            yield

    return service_app(
        runtime, title="PopFlow routing", routers=[decisions_router(runtime.sessions)], lifespan=lifespan
    )
