"""Notification's routes: the street office's page, the inbox API, deliveries, webhooks, the exchange, the outbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi import APIRouter

from services.notification.adapters.office_sessions import OfficeSessions
from services.notification.adapters.reporting_client import ReportingClient
from services.notification.adapters.tables import OutboxRow
from services.notification.bootstrap.clients import Clients
from services.notification.bootstrap.exchange import Exchange
from services.notification.bootstrap.workers import Workers
from services.notification.entrypoints.http import deliveries_router, exchange_router, notices_router, webhooks_router
from services.notification.entrypoints.office import office_router
from services.notification.service_layer.exchange_door import ExchangeDoor
from services.notification.service_layer.exchange_overview import ExchangeOverview
from services.notification.service_layer.exchange_redelivery import ExchangeRedelivery
from services.notification.service_layer.notices import Notices
from services.notification.service_layer.office import Desk
from services.notification.service_layer.push_follow_up import PushFollowUp
from services.notification.service_layer.subscriptions import Subscriptions
from services.notification.settings import NotificationSettings
from shared.auth.dependencies import Authenticate, bearer_principal
from shared.db.outbox_set_aside import SetAsideRows
from shared.directory import load_directory
from shared.http.outbox_admin import outbox_admin_router
from shared.runtime import Runtime


def build_routers(
    settings: NotificationSettings,
    runtime: Runtime,
    clients: Clients,
    exchange: Exchange,
    workers: Workers,
    door: ExchangeDoor,
) -> list[APIRouter]:
    """Each router checks its own callers: an API key, a clerk's session (the office page), a partner's signature."""
    authenticate = bearer_principal(runtime.keys)
    notices = Notices(clients.inbox, clients.clock, load_directory())
    wake_pushes = workers.push.wake
    follow_up = PushFollowUp(inbox=clients.inbox, store=clients.deliveries, clock=clients.clock, wake=wake_pushes)
    return [
        office_router(
            _desk(settings, runtime, clients, notices),
            secure_cookie=settings.secure_office_cookie,
            lifetime_s=settings.office_session_minutes * 60,
        ),
        notices_router(
            notices=notices,
            authenticate=authenticate,
            record_link_base=settings.record_link_base,
            sealed=clients.sealed,
        ),
        deliveries_router(follow_up=follow_up, authenticate=authenticate),
        webhooks_router(
            subscriptions=Subscriptions(clients.webhooks, clients.clock, clients.guard), authenticate=authenticate
        ),
        _exchange_router(settings, clients, exchange, door, wake_pushes=wake_pushes, authenticate=authenticate),
        outbox_admin_router(
            authenticate=authenticate, rows=SetAsideRows(runtime.sessions, OutboxRow, wake=workers.relay.wake)
        ),
    ]


def _desk(settings: NotificationSettings, runtime: Runtime, clients: Clients, notices: Notices) -> Desk:
    """The office page's use cases: a clerk's session, the street's inbox, answers, the weekly report."""
    return Desk(
        notices=notices,
        inbox=clients.inbox,
        sessions=OfficeSessions(
            runtime.sessions, clients.secret_box, lifetime=timedelta(minutes=settings.office_session_minutes)
        ),
        keys=runtime.keys,
        reporting=ReportingClient(settings.reporting_url),
        clock=clients.clock,
        zone=settings.zone,
        sealed=clients.sealed,
    )


def _exchange_router(
    settings: NotificationSettings,
    clients: Clients,
    exchange: Exchange,
    door: ExchangeDoor,
    *,
    wake_pushes: Callable[[], None],
    authenticate: Authenticate,
) -> APIRouter:
    """The door partners post to (signed, no API key), and the bureau's view of each partner and its redelivery."""
    served, store = settings.served_districts, clients.exchange_store
    return exchange_router(
        door=door,
        overview=ExchangeOverview(partners=exchange.partners, store=store, served_districts=served),
        redelivery=ExchangeRedelivery(
            partners=exchange.partners, store=store, served_districts=served, clock=clients.clock, wake=wake_pushes
        ),
        authenticate=authenticate,
    )
