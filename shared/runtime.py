"""The pieces every service's composition root builds the same way.

`build_runtime` only constructs objects; `running` connects, in order:
migrations (waiting for the database), topics (waiting for Kafka), then the
broker with its subscribers. Tests build a runtime with their own settings
instead of patching globals.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.auth.store import MIGRATIONS as KEY_MIGRATIONS
from shared.auth.store import KeyStore
from shared.background import BackgroundTask, BackgroundTasks
from shared.db import build_engine, database_ready, run_migrations, session_factory
from shared.db.leader import Leadership
from shared.db.sentinel import check_sealing_keys
from shared.http.access import AccessLogMiddleware
from shared.http.catalogue import catalogue_router
from shared.http.headers import BrowserHeaders
from shared.http.health import NotReady, health_router
from shared.http.limits import BodyLimits
from shared.http.problems import install_problem_handlers
from shared.kafka.admin import ensure_topics, topic_configs
from shared.kafka.broker import KafkaEventPublisher, build_broker
from shared.kafka.lag import ConsumerLag
from shared.kafka.refusals import producer_problem
from shared.kafka.security import KafkaAuthenticationFailed, KafkaConnection, check_credentials
from shared.metrics import Metrics, mount_metrics
from shared.retry import until_up
from shared.sealing import Keyring
from shared.settings import ServiceSettings
from shared.topics import TopicNames

log = structlog.get_logger(__name__)

DOCS_ASSETS = "/docs-assets"  # Swagger UI's and ReDoc's scripts and styles, served by every service


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
    keyring: Keyring
    kafka: KafkaConnection
    background: BackgroundTasks = field(default_factory=BackgroundTasks)
    kafka_problem: str | None = None  # set when start-up found Kafka refusing us; /readyz shows it
    metrics: Metrics = field(default_factory=Metrics)
    lag: ConsumerLag | None = None


def build_runtime(settings: ServiceSettings, *, service: str, plan_each_time: bool = False) -> Runtime:
    """The service's parts; `plan_each_time`: see shared.db.engine.build_engine."""
    engine = build_engine(settings.database_url, plan_each_time=plan_each_time, pool_size=settings.db_pool_size)
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
        keys=KeyStore(build_engine(settings.keys_database_url, pool_size=settings.db_pool_size)),
        keyring=settings.keyring(),
        kafka=KafkaConnection.from_settings(settings),
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

    The service that owns the key store (intake) migrates it too. When the
    brokers refuse the credentials, the service serves anyway without Kafka
    and its background tasks, so /readyz can answer 503 with the reason.
    """
    settings = runtime.settings
    say_cautions(settings)
    # before the service's own migrations, which may seal what they find with the current key
    await check_sealing_keys(runtime.engine, runtime.keyring, store=runtime.service)
    await run_migrations(runtime.engine, migrations, keyring=runtime.keyring)
    if owns_key_store:
        await run_migrations(runtime.keys.engine, KEY_MIGRATIONS, version_table="alembic_version_keys")
    kafka_up = await _start_kafka(runtime)
    if kafka_up:
        runtime.background.start([_led(runtime, task) for task in background])
    log.info("service started", port=settings.port, background=[b.name for b in background], kafka=kafka_up)
    try:
        yield
    finally:
        await runtime.background.stop()
        if runtime.lag is not None:
            await runtime.lag.close()
        if kafka_up:
            await runtime.broker.stop()
        await runtime.engine.dispose()
        await runtime.keys.engine.dispose()
        log.info("service stopped")


def say_cautions(settings: ServiceSettings) -> None:
    """Each setting that gives something up (CommonSettings.cautions), as a warning in the start-up log."""
    for given, given_up in settings.cautions():
        log.warning("settings give something up", settings=given, given_up=given_up)


def _led(runtime: Runtime, task: BackgroundTask) -> BackgroundTask:
    if not task.single:
        return task
    leadership = Leadership(runtime.engine, f"{runtime.service}/{task.name}")
    return replace(task, run=leadership.wrap(task.run))


async def _start_kafka(runtime: Runtime) -> bool:
    """Authenticate, create or align the topics, start the broker; False if the brokers refuse us.

    Unreachable brokers are waited for (and start-up fails after a minute, as
    before); refused credentials are not retried: they need a new setting.
    """
    settings = runtime.settings
    try:
        async for attempt in until_up(retry_on=ConnectionError):
            with attempt:
                await check_credentials(runtime.kafka)
    except KafkaAuthenticationFailed as error:
        runtime.kafka_problem = str(error)
        log.error(
            "kafka authentication failed",
            **runtime.kafka.describe(),
            action="check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM, then restart",
        )
        return False
    await ensure_topics(
        runtime.kafka,
        runtime.topics.all(),
        partitions=settings.topic_partitions,
        replication=settings.topic_replication,
        configs=topic_configs(settings, runtime.topics),
        in_sync_for=settings.min_in_sync_for,
    )
    await start_broker(runtime.broker)
    return True


async def start_broker(broker: KafkaBroker) -> None:
    """Start the broker and its subscribers, waiting for Kafka as `until_up` does.

    FastStream's start starts every subscriber it has, started or not: after an
    attempt that failed half-way, the next would give each subscriber that had
    started a second consumer, and leave the first running unseen (two members
    of its group in one process, both feeding one subscriber's offsets). So an
    attempt that fails stops what it started before the next.
    """
    async for attempt in until_up():
        with attempt:
            try:
                await broker.start()
            except BaseException as error:
                log.warning("kafka broker start failed; stopping what it started", error_type=type(error).__name__)
                await _stop_quietly(broker)
                raise


async def _stop_quietly(broker: KafkaBroker) -> None:
    try:
        await asyncio.shield(broker.stop())
    except Exception as error:  # the start's own error is the one raised; this one is only told
        log.warning("kafka broker not stopped after a failed start", error_type=type(error).__name__)


async def kafka_ready(runtime: Runtime) -> bool:
    """The broker answers and our producer sends; if not, NotReady says whether it refuses our credentials,
    does not answer, or our producer stopped sending (the brokers answer, but nothing is published)."""
    if runtime.kafka_problem:
        raise NotReady(runtime.kafka_problem)
    if problem := producer_problem(runtime.broker):
        raise NotReady(problem)
    # both within the 3 s readiness allows a check
    if await runtime.broker.ping(timeout=1.5):
        return True
    try:
        await check_credentials(runtime.kafka, timeout_s=1)
    except KafkaAuthenticationFailed as error:
        raise NotReady(str(error)) from error
    except ConnectionError as error:
        raise NotReady("no answer from the Kafka brokers") from error
    raise NotReady("no answer from the Kafka brokers")


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
    """A FastAPI app with problem documents, body limits, /healthz, /readyz, /metrics, access lines, browser
    headers (shared/http/headers.py) and routes.

    Consumer lag is reported for the groups of the broker's subscribers and for
    `consumer_groups` (consumers of the service's own, like reporting's fold).
    `status()` is shown on /readyz whether ready or not (see shared/http/health.py).
    `larger_bodies` maps the paths that stream big bodies themselves to their own byte limit.
    """
    # Swagger UI and ReDoc from the package's own files, not a CDN: /docs works on an office's closed network
    app = FastAPIOffline(title=title, lifespan=lifespan, static_url=DOCS_ASSETS, telemetry=NO_OPENTELEMETRY)
    install_problem_handlers(app)
    app.add_middleware(BodyLimits, max_bytes=runtime.settings.max_body_bytes, larger=larger_bodies)
    runtime.lag = ConsumerLag(runtime.kafka, lambda: _groups(runtime, consumer_groups))
    runtime.metrics.gauge(
        "popflow_consumer_lag",
        "Messages not yet consumed: end offset minus the group's committed offset, per partition",
        ["group", "topic", "partition"],
        runtime.lag.read,
    )
    mount_metrics(app, runtime.metrics)
    app.add_middleware(BrowserHeaders)
    app.add_middleware(AccessLogMiddleware)  # outermost: its line covers everything inside

    async def broker_ready() -> bool:
        return await kafka_ready(runtime)

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
        health_router(
            checks,
            service=runtime.service,
            details=lambda: {"dead_background_tasks": runtime.background.dead()},
            status=status,
        )
    )
    app.include_router(catalogue_router())
    app.state.runtime = runtime  # lets the catalogue test read the subscribers a service registers
    own = len(app.router.routes)
    for router in routers:
        app.include_router(router)
    _service_routes_first(app, own)
    return app


# FastAPI's native OpenTelemetry asks three global providers on every request whether they are set up
# (about 10 µs of a POST's 600, py-spy). PopFlow exports Prometheus metrics and structlog lines instead.
NO_OPENTELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def _service_routes_first(app: FastAPI, own: int) -> None:
    """Put the service's routes ahead of the first `own` routes: the docs, /metrics, /healthz and the catalogue.

    FastAPI tries an app's routes in order, so a POST to /v1/records was first tried against the eleven
    routes ahead of it: 24 µs of each POST, where 7 µs is enough when its router comes first (a timed
    loop over the route matching). No service route answers one of those fixed paths (tested), so none
    can shadow them.
    """
    routes = app.router.routes
    routes[:] = routes[own:] + routes[:own]


def _groups(runtime: Runtime, extra: Sequence[str]) -> list[str]:
    subscribed = (getattr(subscriber, "group_id", None) for subscriber in runtime.broker.subscribers)
    return sorted({group for group in subscribed if group} | set(extra))
