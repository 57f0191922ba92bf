"""Reporting's composition root: settings (and a clock) in, a ready FastAPI app out.

`create_app` reads as the list of the parts it composes; each part is built by
the function named for it, and nothing connects before the app serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

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
from shared.logging import configure_service_logging
from shared.runtime import Lifespan, Runtime, build_runtime, lifespan_of, service_app
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
    configure_service_logging("reporting", settings)
    runtime = build_runtime(settings, service="reporting")
    clock = clock or SystemClock()
    service = build_report_service(settings, runtime.engine, clock)
    fold = build_fold(settings, FactWriter(runtime.engine), runtime.broker, runtime.topics)
    exporter = build_exporter(settings, runtime.engine, service, fold, clock)
    use_cases = build_use_cases(settings, runtime, service, clock, intake=intake or IntakeClient(settings.intake_url))
    lifespan = build_lifespan(runtime, fold, exporter)
    routers = build_routers(settings, runtime, service, use_cases, exchange=exchange or _exchange_client(settings))
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


@dataclass(frozen=True)
class UseCases:
    """The use cases reporting's routes call beside the report service, each over its own store."""

    spotchecks: SpotChecks
    places: PlaceChecks
    logins: Logins
    responsibilities: Responsibilities
    plan: CampaignPlan
    cuts: WeeklyCuts
    certificates: CertificateFollowUps


def build_report_service(settings: ReportingSettings, engine: AsyncEngine, clock: Clock) -> ReportService:
    return ReportService(
        weekly=WeeklyStore(engine),
        quality=QualityStore(engine),
        signoffs=SignoffStore(engine),
        campaigns=CampaignStore(engine),
        calendar=calendar_of(settings),
        directory=load_directory(),
        clock=clock,
        answer_target=timedelta(days=settings.answer_target_days),
    )


def build_exporter(
    settings: ReportingSettings, engine: AsyncEngine, service: ReportService, fold: FoldConsumer, clock: Clock
) -> CutoffExporter | None:
    """The weekly export written at each cut-off once the fold has settled, when an export folder is set."""
    if settings.export_dir is None:
        return None
    return CutoffExporter(
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


def build_use_cases(
    settings: ReportingSettings, runtime: Runtime, service: ReportService, clock: Clock, *, intake: RecordEntry
) -> UseCases:
    engine = runtime.engine
    spotchecks = SpotChecks(
        service, SpotCheckStore(engine), PlaceCheckStore(engine), threshold=settings.spotcheck_threshold
    )
    places = PlaceChecks(
        service,
        PlaceCheckStore(engine),
        intake,
        keyring=settings.keyring(),
        secret=settings.person_key_secret.get_secret_value().encode(),
    )
    logins = Logins(runtime.keys, SessionStore(engine), clock, timedelta(minutes=settings.session_minutes))
    responsibilities = Responsibilities(service, ResponsibilityStore(engine, runtime.keyring))
    return UseCases(
        spotchecks=spotchecks,
        places=places,
        logins=logins,
        responsibilities=responsibilities,
        plan=CampaignPlan(service, CampaignStore(engine), responsibilities),
        cuts=WeeklyCuts(service, responsibilities),
        certificates=CertificateFollowUps(CertificateStore(engine), calendar_of(settings), clock),
    )


def build_lifespan(runtime: Runtime, fold: FoldConsumer, exporter: CutoffExporter | None) -> Lifespan:
    """Serving with the fold in the background, and the weekly export when there is one."""
    background = [BackgroundTask("fold", fold.run)]
    if exporter is not None:
        background.append(BackgroundTask("weekly-export", exporter.run, single=True))
    return lifespan_of(runtime, MIGRATIONS, background=background)


def build_routers(
    settings: ReportingSettings,
    runtime: Runtime,
    service: ReportService,
    use_cases: UseCases,
    *,
    exchange: ExchangeClient | None,
) -> list[APIRouter]:
    """Reporting's routes, every one behind a bearer key or the dashboard's session."""
    authenticate = caller(runtime.keys, use_cases.logins, session_cookie(settings.secure_cookies))
    return [
        reports_router(service, use_cases.cuts, authenticate),
        spotchecks_router(use_cases.spotchecks, authenticate),
        placechecks_router(use_cases.spotchecks, use_cases.places, authenticate),
        campaigns_router(use_cases.plan, authenticate),
        responsibility_router(use_cases.responsibilities, authenticate),
        certificates_router(use_cases.certificates, authenticate),
        dashboard_router(
            service,
            runtime.keys,
            use_cases.spotchecks,
            use_cases.plan,
            use_cases.logins,
            secure_cookie=settings.secure_cookies,
            served_districts=settings.served_districts,
            exchange=exchange,
        ),
    ]


def _exchange_client(settings: ReportingSettings) -> ExchangeClient | None:
    """The dashboard's view of notification's exchange, when both its URL and a key are set."""
    if not (settings.notification_url and settings.notification_key):
        return None
    return ExchangeClient(settings.notification_url, settings.notification_key.get_secret_value())
