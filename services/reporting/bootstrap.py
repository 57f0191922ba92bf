"""Reporting's composition root: settings (and a clock) in, a ready FastAPI app out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from services.reporting.adapters.campaign_store import CampaignStore
from services.reporting.adapters.certificate_store import CertificateStore
from services.reporting.adapters.decoding import Decoder
from services.reporting.adapters.exchange_client import ExchangeClient
from services.reporting.adapters.export_record import ExportRecord
from services.reporting.adapters.fold import FactWriter
from services.reporting.adapters.fold_progress import FoldProgress
from services.reporting.adapters.intake_client import IntakeClient, RecordEntry
from services.reporting.adapters.metrics import EVENTS_FOLDED, EXPORT_FAILURES
from services.reporting.adapters.placecheck_store import PlaceCheckStore
from services.reporting.adapters.quality_store import QualityStore
from services.reporting.adapters.responsibility_store import ResponsibilityStore
from services.reporting.adapters.session_store import SessionStore
from services.reporting.adapters.signoff_store import SignoffStore
from services.reporting.adapters.spotcheck_store import SpotCheckStore
from services.reporting.adapters.weekly_store import WeeklyStore
from services.reporting.domain.weeks import WeekCalendar
from services.reporting.entrypoints.dashboard.pages import dashboard_router
from services.reporting.entrypoints.http import install_use_case_errors
from services.reporting.entrypoints.http.access import caller, session_cookie
from services.reporting.entrypoints.http.campaigns import campaigns_router
from services.reporting.entrypoints.http.certificates import certificates_router
from services.reporting.entrypoints.http.placechecks import placechecks_router
from services.reporting.entrypoints.http.reports import reports_router
from services.reporting.entrypoints.http.responsibility import responsibility_router
from services.reporting.entrypoints.http.spotchecks import spotchecks_router
from services.reporting.entrypoints.kafka import FoldConsumer
from services.reporting.service_layer.campaigns import CampaignPlan
from services.reporting.service_layer.certificates import CertificateFollowUps
from services.reporting.service_layer.cuts import WeeklyCuts
from services.reporting.service_layer.logins import Logins
from services.reporting.service_layer.placechecks import PlaceChecks
from services.reporting.service_layer.reports import ReportService
from services.reporting.service_layer.responsibility import Responsibilities
from services.reporting.service_layer.scheduled import CutoffExporter
from services.reporting.service_layer.spotchecks import SpotChecks
from services.reporting.settings import ReportingSettings
from shared.background import BackgroundTask
from shared.clock import Clock, SystemClock
from shared.directory import load_directory
from shared.kafka.broker import dead_letter_publisher
from shared.kafka.security import KafkaConnection
from shared.logging import configure_logging
from shared.runtime import build_runtime, lifespan_of, service_app
from shared.topics import ALL_TOPICS, DEAD_LETTER, TopicNames

MIGRATIONS = Path(__file__).parent / "migrations"
GROUP = "reporting"
FOLDED_TOPICS = tuple(topic for topic in ALL_TOPICS if topic != DEAD_LETTER)


def calendar_of(settings: ReportingSettings) -> WeekCalendar:
    return WeekCalendar(settings.zone, settings.cut_off_weekday, settings.cut_off_time)


def build_fold(
    settings: ReportingSettings, writer: FactWriter, broker: KafkaBroker, topics: TopicNames
) -> FoldConsumer:
    keyring = settings.keyring()
    return FoldConsumer(
        kafka=KafkaConnection.from_settings(settings),
        topics=[topics(t) for t in FOLDED_TOPICS],
        group=topics(GROUP),  # prefixed like the topics: group ids are global on a broker
        writer=writer,
        decoder=Decoder(calendar_of(settings), settings.person_key_secret.get_secret_value().encode(), keyring),
        dead_letter=dead_letter_publisher(broker, topics, keyring),
        batch_max=settings.fold_batch,
    )


@dataclass
class Reporting:
    """Everything create_app wires, kept on app.state for tests and the CLI."""

    service: ReportService
    fold: FoldConsumer
    exporter: CutoffExporter | None


def create_app(
    settings: ReportingSettings | None = None,
    *,
    clock: Clock | None = None,
    intake: RecordEntry | None = None,
    exchange: ExchangeClient | None = None,
) -> FastAPI:
    settings = settings or ReportingSettings()
    configure_logging(service="reporting", level=settings.log_level, fmt=settings.log_format)
    runtime = build_runtime(settings, service="reporting")
    engine, clock = runtime.engine, clock or SystemClock()
    service = ReportService(
        weekly=WeeklyStore(engine),
        quality=QualityStore(engine),
        signoffs=SignoffStore(engine),
        campaigns=CampaignStore(engine),
        calendar=calendar_of(settings),
        directory=load_directory(),
        clock=clock,
        answer_target=timedelta(days=settings.answer_target_days),
    )
    fold = build_fold(settings, FactWriter(engine), runtime.broker, runtime.topics)
    exporter = None
    if settings.export_dir is not None:
        exporter = CutoffExporter(
            service,
            folder=settings.export_dir,
            districts=settings.served_districts,
            clock=clock,
            written=ExportRecord(engine),
            catch_up_weeks=settings.export_catch_up_weeks,
            fold_settled=FoldProgress(
                KafkaConnection.from_settings(settings), topics=fold.topics, group=fold.group
            ).settled,
        )
    spotchecks = SpotChecks(
        service, SpotCheckStore(engine), PlaceCheckStore(engine), threshold=settings.spotcheck_threshold
    )
    places = PlaceChecks(
        service,
        PlaceCheckStore(engine),
        intake or IntakeClient(settings.intake_url),
        keyring=settings.keyring(),
        secret=settings.person_key_secret.get_secret_value().encode(),
    )
    logins = Logins(runtime.keys, SessionStore(engine), clock, timedelta(minutes=settings.session_minutes))
    responsibilities = Responsibilities(service, ResponsibilityStore(engine, runtime.keyring))
    plan = CampaignPlan(service, CampaignStore(engine), responsibilities)
    authenticate = caller(runtime.keys, logins, session_cookie(settings.secure_cookies))

    background = [BackgroundTask("fold", fold.run)]
    if exporter is not None:
        background.append(BackgroundTask("weekly-export", exporter.run, single=True))
    lifespan = lifespan_of(runtime, MIGRATIONS, background=background)

    routers = [
        reports_router(service, WeeklyCuts(service, responsibilities), authenticate),
        spotchecks_router(spotchecks, authenticate),
        placechecks_router(spotchecks, places, authenticate),
        campaigns_router(plan, authenticate),
        responsibility_router(responsibilities, authenticate),
        certificates_router(CertificateFollowUps(CertificateStore(engine), calendar_of(settings), clock), authenticate),
        dashboard_router(
            service,
            runtime.keys,
            spotchecks,
            plan,
            logins,
            secure_cookie=settings.secure_cookies,
            served_districts=settings.served_districts,
            exchange=exchange or _exchange_client(settings),
        ),
    ]
    runtime.metrics.register(EVENTS_FOLDED, EXPORT_FAILURES)
    app = service_app(
        runtime,
        title="PopFlow reporting",
        routers=routers,
        lifespan=lifespan,
        consumer_groups=[fold.group],
        status=exporter.status.shown if exporter is not None else dict,
    )
    install_use_case_errors(app)
    app.state.reporting = Reporting(service=service, fold=fold, exporter=exporter)
    return app


def _exchange_client(settings: ReportingSettings) -> ExchangeClient | None:
    """The dashboard's view of notification's exchange, when both its URL and a key are set."""
    if not (settings.notification_url and settings.notification_key):
        return None
    return ExchangeClient(settings.notification_url, settings.notification_key.get_secret_value())
