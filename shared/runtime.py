"""The pieces every service's composition root builds the same way.

`build_runtime` only constructs objects; `running` connects, in order:
migrations (waiting for the database), topics (waiting for Kafka), then the
broker with its subscribers. Tests build a runtime with their own settings
instead of patching globals.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.auth.store import MIGRATIONS as KEY_MIGRATIONS
from shared.auth.store import KeyStore
from shared.background import BackgroundTask, BackgroundTasks
from shared.db import build_engine, database_ready, run_migrations, session_factory
from shared.db.leader import Leadership
from shared.http.access import AccessLogMiddleware
from shared.http.catalogue import catalogue_router
from shared.http.health import NotReady, health_router
from shared.http.limits import BodyLimits
from shared.http.problems import install_problem_handlers
from shared.kafka.admin import ensure_topics
from shared.kafka.broker import KafkaEventPublisher, build_broker
from shared.kafka.lag import ConsumerLag
from shared.metrics import Metrics, mount_metrics
from shared.retry import until_up
from shared.settings import ServiceSettings
from shared.topics import TopicNames

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    service: str
    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    broker: KafkaBroker
    topics: TopicNames
    publisher: KafkaEventPublisher
    keys: KeyStore
    background: BackgroundTasks = field(default_factory=BackgroundTasks)
    metrics: Metrics = field(default_factory=Metrics)
    lag: ConsumerLag | None = None


def build_runtime(settings: ServiceSettings, *, service: str) -> Runtime:
    engine = build_engine(settings.database_url)
    broker = build_broker(settings, service=service)
    topics = TopicNames(settings.topic_prefix)
    return Runtime(
        service=service,
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        broker=broker,
        topics=topics,
        publisher=KafkaEventPublisher(broker, topics),
        keys=KeyStore(build_engine(settings.keys_database_url)),
    )


@asynccontextmanager
async def running(
    runtime: Runtime,
    migrations: Path,
    *,
    owns_key_store: bool = False,
    background: Sequence[BackgroundTask] = (),
) -> AsyncIterator[None]:
    """Migrate, create topics, start the broker and the background tasks; stop all on the way out.

    The service that owns the key store (intake) migrates it too.
    """
    settings = runtime.settings
    await run_migrations(runtime.engine, migrations)
    if owns_key_store:
        await run_migrations(runtime.keys.engine, KEY_MIGRATIONS, version_table="alembic_version_keys")
    await ensure_topics(
        settings.kafka_bootstrap_servers,
        runtime.topics.all(),
        partitions=settings.topic_partitions,
        replication=settings.topic_replication,
    )
    async for attempt in until_up():
        with attempt:
            await runtime.broker.start()
    runtime.background.start([_led(runtime, task) for task in background])
    log.info("service started", port=settings.port, background=[b.name for b in background])
    try:
        yield
    finally:
        await runtime.background.stop()
        if runtime.lag is not None:
            await runtime.lag.close()
        await runtime.broker.stop()
        await runtime.engine.dispose()
        await runtime.keys.engine.dispose()
        log.info("service stopped")


def _led(runtime: Runtime, task: BackgroundTask) -> BackgroundTask:
    if not task.single:
        return task
    leadership = Leadership(runtime.engine, f"{runtime.service}/{task.name}")
    return replace(task, run=leadership.wrap(task.run))


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def lifespan_of(
    runtime: Runtime,
    migrations: Path,
    *,
    owns_key_store: bool = False,
    background: Sequence[BackgroundTask] = (),
) -> Lifespan:
    """The FastAPI lifespan of a service: `running` around the time it serves."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with running(runtime, migrations, owns_key_store=owns_key_store, background=background):
            yield

    return lifespan


def service_app(
    runtime: Runtime,
    *,
    title: str,
    routers: Sequence[APIRouter],
    lifespan: Lifespan,
    consumer_groups: Sequence[str] = (),
    larger_bodies: Mapping[str, int] | None = None,
    status: Callable[[], Mapping[str, Any]] = dict,
) -> FastAPI:
    """A FastAPI app with problem documents, body limits, /healthz, /readyz, /metrics, access lines and routes.

    Consumer lag is reported for the groups of the broker's subscribers and for
    `consumer_groups` (consumers of the service's own, like reporting's fold).
    `status()` is shown on /readyz whether ready or not (see shared/http/health.py).
    `larger_bodies` maps the paths that stream big bodies themselves to their own byte limit.
    """
    app = FastAPI(title=title, lifespan=lifespan)
    install_problem_handlers(app)
    app.add_middleware(BodyLimits, max_bytes=runtime.settings.max_body_bytes, larger=larger_bodies)
    runtime.lag = ConsumerLag(runtime.settings.kafka_bootstrap_servers, lambda: _groups(runtime, consumer_groups))
    runtime.metrics.gauge(
        "popflow_consumer_lag",
        "Messages not yet consumed: end offset minus the group's committed offset, per partition",
        ["group", "topic", "partition"],
        runtime.lag.read,
    )
    mount_metrics(app, runtime.metrics)
    app.add_middleware(AccessLogMiddleware)  # outermost: its line covers everything inside

    async def broker_ready() -> bool:
        if not await runtime.broker.ping(timeout=2.0):
            raise NotReady("no answer from the Kafka brokers")
        return True

    async def db_ready() -> bool:
        return await database_ready(runtime.engine)

    async def keys_ready() -> bool:
        return await database_ready(runtime.keys.engine)

    async def background_alive() -> bool:
        if dead := runtime.background.dead():
            raise NotReady("stopped: " + ", ".join(dead))
        return True

    checks = {
        "kafka": broker_ready,
        "database": db_ready,
        "key_store": keys_ready,
        "background": background_alive,
    }
    app.include_router(
        health_router(checks, details=lambda: {"dead_background_tasks": runtime.background.dead()}, status=status)
    )
    app.include_router(catalogue_router())
    app.state.runtime = runtime  # lets the catalogue test read the subscribers a service registers
    for router in routers:
        app.include_router(router)
    return app


def _groups(runtime: Runtime, extra: Sequence[str]) -> list[str]:
    subscribed = (getattr(subscriber, "group_id", None) for subscriber in runtime.broker.subscribers)
    return sorted({group for group in subscribed if group} | set(extra))
