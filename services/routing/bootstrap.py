"""Routing's composition root: settings in, a ready FastAPI app out.

`rebuild_into` wires the same use cases, for `popflow routing rebuild`, to a
fresh store and an emitter that publishes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.adapters.emitter import DiscardingEmitter, Emitter, KafkaEmitter
from services.routing.adapters.recipients_file import RecipientsFile
from services.routing.domain.schedule import AnswerDeadlines
from services.routing.entrypoints.http import routing_router
from services.routing.entrypoints.kafka import ANSWERS_GROUP, register_consumers
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.parked import ParkedAnswers
from services.routing.service_layer.rebuild import Replayed, rebuild
from services.routing.service_layer.records import RecordHandler
from services.routing.service_layer.reminders import ReminderJob
from services.routing.service_layer.reviews import ReviewHandler
from services.routing.settings import RoutingSettings
from shared.auth.dependencies import bearer_principal
from shared.background import BackgroundTask
from shared.clock import Clock, SystemClock
from shared.db import build_engine, run_migrations, session_factory
from shared.db.sentinel import check_sealing_keys
from shared.directory import load_directory
from shared.kafka.broker import dead_letters_for
from shared.kafka.security import KafkaConnection
from shared.logging import configure_service_logging
from shared.runtime import build_runtime, lifespan_of, service_app
from shared.topics import TopicNames

MIGRATIONS = Path(__file__).parent / "migrations"


def build_context(
    settings: RoutingSettings, sessions: async_sessionmaker[AsyncSession], emitter: Emitter, clock: Clock
) -> RoutingContext:
    keyring = settings.keyring()
    recipients = RecipientsFile(settings.recipients_file, settings.served_districts)
    return RoutingContext(
        sessions=sessions,
        emitter=emitter,
        recipients=recipients.current,
        directory=load_directory(),
        clock=clock,
        key_secret=settings.person_key_secret.get_secret_value().encode(),
        keyring=keyring,
        deadlines=AnswerDeadlines(settings.reminder_working_days, frozenset(settings.holidays), settings.zone),
    )


def reminder_job(settings: RoutingSettings, context: RoutingContext) -> ReminderJob:
    return ReminderJob(
        context,
        deadline_days=settings.reminder_working_days,
        holidays=settings.holidays,
        zone=settings.zone,
    )


def create_app(settings: RoutingSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or RoutingSettings()
    configure_service_logging("routing", settings)
    # its look-up of events handled before and of each person's cases reads tables that grow by every
    # record: a generic plan made while they were young scans them whole (docs/performance.md, round 18)
    runtime = build_runtime(settings, service="routing", plan_each_time=True)
    context = build_context(
        settings, runtime.sessions, KafkaEmitter(runtime.broker, runtime.topics), clock or SystemClock()
    )
    answers = AnswerHandler(context, park=True)
    register_consumers(
        runtime.broker,
        runtime.topics,
        RecordHandler(context),
        answers,
        ReviewHandler(context),
        context.keyring,
        record_consumers=settings.record_consumers,
    )
    reminders = reminder_job(settings, context)
    parked = ParkedAnswers(
        context,
        answers.apply_now,
        dead_letters_for(runtime.broker, runtime.topics, context.keyring),
        group=runtime.topics(ANSWERS_GROUP),
        max_age=timedelta(seconds=settings.parked_answer_max_age_s),
    )
    parked.measure(runtime.metrics)

    background = [BackgroundTask("parked-answers", partial(parked.run, settings.parked_answer_interval_s), single=True)]
    if settings.reminder_interval_s > 0:
        background.append(
            BackgroundTask("reminders", partial(reminders.run, settings.reminder_interval_s), single=True)
        )
    lifespan = lifespan_of(runtime, MIGRATIONS, background=background)

    routers = [routing_router(context, bearer_principal(runtime.keys))]
    return service_app(runtime, title="PopFlow routing", routers=routers, lifespan=lifespan)


async def rebuild_into(
    settings: RoutingSettings, *, into: str, on_message: Callable[[], None] = lambda: None
) -> dict[str, Replayed]:
    """Replay the topics into the store at `into` (migrated first), publishing nothing."""
    engine = build_engine(into)
    try:
        # the replay stamps each message with its own time (rebuild.MessageTime), not this clock's
        context = build_context(settings, session_factory(engine), DiscardingEmitter(), SystemClock())
        await check_sealing_keys(engine, context.keyring, store="rebuilt routing")
        await run_migrations(engine, MIGRATIONS, keyring=context.keyring)
        topics = TopicNames(settings.topic_prefix)
        kafka = KafkaConnection.from_settings(settings)
        max_age = timedelta(seconds=settings.parked_answer_max_age_s)
        return await rebuild(context, kafka=kafka, topics=topics, on_message=on_message, parked_max_age=max_age)
    finally:
        await engine.dispose()
