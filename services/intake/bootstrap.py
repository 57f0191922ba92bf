"""Intake's composition root: settings in, a ready FastAPI app out.

`create_app` reads as the list of the parts it composes; each part is built by
the function named for it, and nothing connects before the app serves.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import cast

from fastapi import APIRouter, FastAPI

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
from shared.db.outbox import OutboxRelay
from shared.db.outbox_purge import OutboxPurge
from shared.db.outbox_set_aside import SetAsideRows
from shared.directory import load_changes, load_directory
from shared.http.outbox_admin import outbox_admin_router
from shared.logging import configure_service_logging
from shared.runtime import Lifespan, Runtime, build_runtime, lifespan_of, service_app
from shared.serving import COLLECTOR_THRESHOLDS

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    configure_service_logging("intake", settings)
    runtime = build_runtime(settings, service="intake")
    relay = build_relay(settings, runtime)
    records = build_records(settings, runtime, relay)
    register_consumers(runtime.broker, runtime.topics, records.repository, records.notices, runtime.keyring)
    workers = build_workers(settings, records.submissions)
    lifespan = build_lifespan(settings, runtime, relay, workers)
    app = service_app(
        runtime,
        title="PopFlow intake",
        routers=build_routers(settings, runtime, records, relay, workers),
        lifespan=lifespan,
        larger_bodies={"/v1/records/bulk": settings.bulk_max_bytes},
        status=lambda: relay.shown() | (workers.shown() if workers is not None else {}),
    )
    install_record_schema(app)
    install_read_problems(app)
    return app


@dataclass(frozen=True)
class Records:
    """Intake's stores and the record use cases over them, shared by the routes, the consumers and the workers."""

    repository: RecordRepository
    audit: ReadAudit
    notices: NoticeRecipients
    submissions: Submissions
    reads: RecordReads


def build_relay(settings: IntakeSettings, runtime: Runtime) -> OutboxRelay:
    """The relay that sends what each stored record wrote to the outbox (woken by the store), measured."""
    relay = intake_relay(
        runtime.sessions,
        runtime.broker,
        runtime.topics,
        runtime.keyring,
        batch=settings.outbox_batch,
        keep_sent=settings.outbox_keeps_sent,
        unclear_passes=settings.outbox_unclear_passes,
        unclear_for_s=settings.outbox_unclear_for_s,
    )
    relay.measure(runtime.metrics)
    return relay


def build_records(settings: IntakeSettings, runtime: Runtime, relay: OutboxRelay) -> Records:
    person_secret = settings.person_key_secret.get_secret_value().encode()
    changes = load_changes()
    repository = RecordRepository(runtime.sessions)
    audit = ReadAudit(runtime.sessions)
    notices = NoticeRecipients(runtime.sessions)
    submissions = Submissions(
        repository,
        load_directory(),
        runtime.keyring,
        person_secret,
        on_stored=relay.wake,
        changes=changes,
        zone=settings.zone,
    )
    reads = RecordReads(repository, audit, runtime.keyring, person_secret, notices, changes=changes)
    return Records(repository=repository, audit=audit, notices=notices, submissions=submissions, reads=reads)


def build_workers(settings: IntakeSettings, submissions: Submissions) -> BulkWorkers | None:
    """The bulk import's worker processes, when the settings ask for some; without them rows are prepared in
    process, by the service's own `submissions`."""
    if not settings.bulk_workers:
        return None
    return BulkWorkers(settings.bulk_workers, partial(bulk_worker_submissions, settings), submissions=submissions)


def build_lifespan(
    settings: IntakeSettings, runtime: Runtime, relay: OutboxRelay, workers: BulkWorkers | None
) -> Lifespan:
    """Serving with the relay and the outbox purge in the background, and the bulk workers (if any) started
    once it serves and closed before it stops."""
    purge = OutboxPurge(runtime.sessions, OutboxRow, keep=timedelta(days=settings.outbox_keep_days))
    background = [
        BackgroundTask("outbox-relay", relay.run, single=True),
        BackgroundTask("outbox-purge", purge.run, single=True),
    ]
    serving = lifespan_of(runtime, MIGRATIONS, owns_key_store=True, background=background)
    return serving if workers is None else _with_workers(serving, workers)


def _with_workers(serving: Lifespan, workers: BulkWorkers) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with serving(app):
            workers.start()
            try:
                yield
            finally:
                await workers.close()

    return lifespan


def build_routers(
    settings: IntakeSettings, runtime: Runtime, records: Records, relay: OutboxRelay, workers: BulkWorkers | None
) -> list[APIRouter]:
    """Intake's routes, the records' first: FastAPI tries them in this order, and the single POST carries the load."""
    authenticate = bearer_principal(CachedKeyStore(runtime.keys, ttl_s=settings.key_cache_seconds))
    return [
        records_router(
            authenticate=authenticate,
            submissions=records.submissions,
            reads=records.reads,
            max_body_bytes=settings.max_body_bytes,
        ),
        bulk_router(
            authenticate=authenticate,
            submissions=records.submissions,
            limits=BulkLimits(
                settings.bulk_max_rows, settings.bulk_max_bytes, settings.bulk_batch, settings.bulk_store_wait_s
            ),
            workers=workers,
        ),
        audit_router(authenticate=authenticate, audit=records.audit),
        outbox_admin_router(authenticate=authenticate, rows=SetAsideRows(runtime.sessions, OutboxRow, wake=relay.wake)),
    ]


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
