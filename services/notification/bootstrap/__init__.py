"""Notification's composition root: settings (and, in tests, a sender and a clock) in, an app out.

create_app lists the parts it composes; the larger ones (clients, exchange, workers, routers) are
built by the modules beside it in this package (the other services' roots are one bootstrap.py: theirs
are shorter).
Nothing connects here: the lifespan migrates, starts Kafka and the background tasks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.notification.adapters.sender import WebhookSender
from services.notification.bootstrap.clients import build_clients
from services.notification.bootstrap.exchange import build_door, build_exchange, ftp_poller
from services.notification.bootstrap.routers import build_routers
from services.notification.bootstrap.workers import background_tasks, build_workers
from services.notification.entrypoints.kafka import register_consumers
from services.notification.service_layer.receiving import NoticeReceiver
from services.notification.settings import NotificationSettings
from shared.clock import Clock, SystemClock
from shared.logging import configure_service_logging
from shared.runtime import Lifespan, build_runtime, lifespan_of, service_app

MIGRATIONS = Path(__file__).parent.parent / "migrations"  # the service's, beside this package


def create_app(
    settings: NotificationSettings | None = None, *, sender: WebhookSender | None = None, clock: Clock | None = None
) -> FastAPI:
    settings = settings or NotificationSettings()
    configure_service_logging("notification", settings)
    # its claims and push records join deliveries and notices, tables that grow by every notice
    runtime = build_runtime(settings, service="notification", plan_each_time=True)
    clients = build_clients(settings, runtime, sender=sender, clock=clock or SystemClock())
    exchange = build_exchange(settings, clients)
    workers = build_workers(settings, runtime, clients, exchange.outbound)
    receiver = NoticeReceiver(inbox=clients.inbox, worker=workers.push, clock=clients.clock)
    register_consumers(runtime.broker, runtime.topics, receiver=receiver, keyring=runtime.keyring)
    door = build_door(settings, clients, exchange, wake=workers.push.wake)
    background = background_tasks(settings, runtime, clients, workers, ftp_poller(settings, clients, exchange, door))
    lifespan = _stopping(lifespan_of(runtime, MIGRATIONS, background=background), exchange.stop_ftp)
    routers = build_routers(settings, runtime, clients, exchange, workers, door)
    return service_app(
        runtime, title="PopFlow notification", routers=routers, lifespan=lifespan, status=workers.relay.shown
    )


def _stopping(lifespan: Lifespan, stop_ftp: Callable[[], None]) -> Lifespan:
    """`lifespan`, then the FTP exchange's threads shut down (what was queued on them cancelled, what stalls on
    them not waited for)."""

    @asynccontextmanager
    async def stopping(app: FastAPI) -> AsyncIterator[None]:
        try:
            async with lifespan(app):
                yield
        finally:
            stop_ftp()

    return stopping
