"""Intake's composition root: settings in, a ready FastAPI app out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from services.intake.adapters.outbox import OutboxRelay
from services.intake.adapters.repository import RecordRepository
from services.intake.api import records_router
from services.intake.consumers import register_consumers
from services.intake.settings import IntakeSettings
from shared.directory import load_directory
from shared.logging import configure_logging
from shared.runtime import build_runtime, running, service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    configure_logging(service="intake", level=settings.log_level, fmt=settings.log_format)
    runtime = build_runtime(settings, service="intake")
    repository = RecordRepository(runtime.sessions)
    relay = OutboxRelay(runtime.sessions, runtime.broker, runtime.topics, batch=settings.outbox_batch)
    register_consumers(runtime.broker, runtime.topics, repository)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with running(runtime, MIGRATIONS, owns_key_store=True):
            relay_task = asyncio.create_task(relay.run(), name="outbox-relay")
            try:
                yield
            finally:
                relay_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay_task

    router = records_router(
        repository=repository,
        relay=relay,
        directory=load_directory(),
        key_secret=settings.person_key_secret.get_secret_value().encode(),
        max_body_bytes=settings.max_body_bytes,
    )
    return service_app(runtime, title="PopFlow intake", routers=[router], lifespan=lifespan)
