"""Intake's composition root: settings in, a ready FastAPI app out."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import cast

from fastapi import FastAPI

from services.intake.adapters.audit import ReadAudit
from services.intake.adapters.key_cache import CachedKeyStore
from services.intake.adapters.notice_recipients import NoticeRecipients
from services.intake.adapters.outbox import intake_relay
from services.intake.adapters.repository import RecordRepository
from services.intake.adapters.tables import OutboxRow
from services.intake.entrypoints.http.audit import audit_router
from services.intake.entrypoints.http.bulk import BulkLimits, bulk_router
from services.intake.entrypoints.http.records import install_read_problems, records_router
from services.intake.entrypoints.http.schema import install_record_schema
from services.intake.entrypoints.kafka import register_consumers
from services.intake.service_layer.bulk_workers import BulkWorkers
from services.intake.service_layer.reads import RecordReads
from services.intake.service_layer.submissions import Submissions
from services.intake.settings import IntakeSettings
from shared.auth.dependencies import bearer_principal
from shared.background import BackgroundTask
from shared.db.outbox_purge import OutboxPurge
from shared.db.outbox_set_aside import SetAsideRows
from shared.directory import load_changes, load_directory
from shared.http.outbox_admin import outbox_admin_router
from shared.logging import configure_logging
from shared.runtime import build_runtime, lifespan_of, service_app
from shared.serving import COLLECTOR_THRESHOLDS

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    configure_logging(service="intake", level=settings.log_level, fmt=settings.log_format)
    runtime = build_runtime(settings, service="intake")
    keyring = runtime.keyring
    person_secret = settings.person_key_secret.get_secret_value().encode()
    repository = RecordRepository(runtime.sessions)
    audit = ReadAudit(runtime.sessions)
    relay = intake_relay(
        runtime.sessions,
        runtime.broker,
        runtime.topics,
        keyring,
        batch=settings.outbox_batch,
        keep_sent=settings.outbox_keeps_sent,
        unclear_passes=settings.outbox_unclear_passes,
        unclear_for_s=settings.outbox_unclear_for_s,
    )
    relay.measure(runtime.metrics)
    changes = load_changes()
    submissions = Submissions(
        repository,
        load_directory(),
        keyring,
        person_secret,
        on_stored=relay.wake,
        changes=changes,
        zone=settings.zone,
    )
    authenticate = bearer_principal(CachedKeyStore(runtime.keys, ttl_s=settings.key_cache_seconds))
    notices = NoticeRecipients(runtime.sessions)
    register_consumers(runtime.broker, runtime.topics, repository, notices, keyring)

    workers = None
    if settings.bulk_workers:
        workers = BulkWorkers(
            settings.bulk_workers, partial(bulk_worker_submissions, settings), submissions=submissions
        )
    purge = OutboxPurge(runtime.sessions, OutboxRow, keep=timedelta(days=settings.outbox_keep_days))
    background = [
        BackgroundTask("outbox-relay", relay.run, single=True),
        BackgroundTask("outbox-purge", purge.run, single=True),
    ]
    serving = lifespan_of(runtime, MIGRATIONS, owns_key_store=True, background=background)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with serving(app):
            if workers is None:
                yield
                return
            workers.start()
            try:
                yield
            finally:
                workers.close()

    routers = [
        records_router(
            authenticate=authenticate,
            submissions=submissions,
            reads=RecordReads(repository, audit, keyring, person_secret, notices, changes=changes),
            max_body_bytes=settings.max_body_bytes,
        ),
        bulk_router(
            authenticate=authenticate,
            submissions=submissions,
            limits=BulkLimits(settings.bulk_max_rows, settings.bulk_max_bytes, settings.bulk_batch),
            workers=workers,
        ),
        audit_router(authenticate=authenticate, audit=audit),
        outbox_admin_router(authenticate=authenticate, rows=SetAsideRows(runtime.sessions, OutboxRow, wake=relay.wake)),
    ]
    app = service_app(
        runtime,
        title="PopFlow intake",
        routers=routers,
        lifespan=lifespan,
        larger_bodies={"/v1/records/bulk": settings.bulk_max_bytes},
        status=lambda: relay.shown() | (workers.shown() if workers is not None else {}),
    )
    install_record_schema(app)
    install_read_problems(app)
    return app


def bulk_worker_submissions(settings: IntakeSettings) -> Submissions:
    """What a bulk worker process prepares rows with: its own directory and keyring, the deployment's zone
    (its rows meet the same "today" as a single POST), and no store (it never stores).

    The collector is tuned as in the serving process (shared.serving), the directory frozen out of it."""
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    person_secret = settings.person_key_secret.get_secret_value().encode()
    no_store = cast(RecordRepository, None)  # never called: a worker only prepares
    submissions = Submissions(
        no_store,
        load_directory(),
        settings.keyring(),
        person_secret,
        changes=load_changes(),
        zone=settings.zone,
    )
    gc.freeze()
    return submissions
