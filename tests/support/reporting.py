"""Reporting in-process on real Kafka and PostgreSQL, with a clock the test moves.

Events are published as envelopes straight to the run's topics (aiokafka), so
a test scripts a week exactly; reporting reads them as it would in
production. Each harness has its own topic prefix and databases.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.campaign_store import CampaignStore
from services.reporting.adapters.exchange_client import ExchangeClient
from services.reporting.adapters.quality_store import QualityStore
from services.reporting.adapters.signoff_store import SignoffStore
from services.reporting.adapters.weekly_store import WeeklyStore
from services.reporting.bootstrap import Reporting, create_app
from services.reporting.domain.weeks import WeekCalendar
from services.reporting.service_layer.reports import ReportService
from services.reporting.settings import ReportingSettings
from shared.auth import parse_scope
from shared.auth.store import MIGRATIONS as KEY_MIGRATIONS
from shared.auth.store import KeyStore
from shared.clock import Clock, FixedClock
from shared.db import build_engine, run_migrations
from shared.directory import load_directory
from shared.events import Envelope, parse_event
from shared.events.envelope import REGISTRY, sealed_payload
from shared.kafka.security import KafkaConnection
from tests.support.infra import (
    DATA_KEYS,
    PERSON_KEY_SECRET,
    TEST_KEYRING,
    create_databases,
    drop_databases,
    kafka_bootstrap,
    unique_name,
)


class FakeClock(FixedClock):
    """now() is what the test says; sleep_until returns once the test moved past the moment."""

    def set(self, moment: datetime) -> None:
        self.advance_to(moment)


@dataclass
class Harness:
    settings: ReportingSettings
    app: FastAPI
    client: httpx.AsyncClient
    producer: AIOKafkaProducer
    clock: FakeClock
    keys: KeyStore
    databases: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def reporting(self) -> Reporting:
        return self.app.state.reporting  # type: ignore[no-any-return]

    async def key(self, scope: str) -> dict[str, str]:
        _, key = await self.keys.create(parse_scope(scope), label="test")
        return {"authorization": f"Bearer {key}"}

    async def publish(
        self,
        topic: str,
        kind: str,
        payload: dict[str, Any],
        *,
        event_id: str | None = None,
        strict: bool = True,
        version: int = 1,
    ) -> str:
        """Publish one envelope as a current producer would: a payload of `version` upcast, its
        personal parts sealed. `strict` first proves the payload fits the current contract."""
        event_class, event_id = REGISTRY[kind], event_id or str(uuid.uuid4())
        for step in range(version, event_class.VERSION):
            payload = event_class.UPCASTERS[step](payload)
        payload = sealed_payload(event_class, payload, event_id=uuid.UUID(event_id), keyring=TEST_KEYRING)
        envelope = {
            "event_id": event_id,
            "type": kind,
            "version": event_class.VERSION,
            "occurred_at": datetime.now().astimezone().isoformat(),
            "producer": "test",
            "correlation_id": str(payload.get("record_id") or payload.get("notice_id") or "none"),
            "payload": payload,
        }
        if strict:
            parse_event(Envelope.model_validate(envelope), TEST_KEYRING)
        key = str(envelope["correlation_id"]).encode()
        await self.producer.send_and_wait(self.settings.topic_prefix + topic, json.dumps(envelope).encode(), key=key)
        return str(envelope["event_id"])

    async def publish_raw(self, topic: str, value: bytes) -> None:
        await self.producer.send_and_wait(self.settings.topic_prefix + topic, value, key=b"raw")

    async def get(self, path: str, headers: dict[str, str], **params: str) -> httpx.Response:
        return await self.client.get(path, params=params, headers=headers)


@asynccontextmanager
async def reporting_harness(
    clock: FakeClock,
    *,
    export_dir: Path | None = None,
    district: str = "",
    serve_port: int | None = None,
    exchange: ExchangeClient | None = None,
) -> AsyncIterator[Harness]:
    run_id = unique_name("r")
    names = [f"{run_id}_reporting", f"{run_id}_keys"]
    urls = await create_databases(names)
    store_url, keys_url = urls[names[0]], urls[names[1]]
    settings = ReportingSettings.model_validate(
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap(),
            "POPFLOW_TOPIC_PREFIX": f"test.{run_id}.",
            "POPFLOW_TOPIC_PARTITIONS": 3,
            "POPFLOW_PERSON_KEY_SECRET": PERSON_KEY_SECRET,
            "POPFLOW_DATA_KEYS": DATA_KEYS,
            "POPFLOW_KEYS_DATABASE_URL": keys_url,
            "database_url": store_url,
            "export_dir": export_dir,
            "POPFLOW_SERVED_DISTRICTS": district or "440111",
            "port": serve_port or 8004,
        }
    )
    keys = KeyStore(build_engine(keys_url))
    await run_migrations(keys.engine, KEY_MIGRATIONS, version_table="alembic_version_keys")
    app = create_app(settings, clock=clock, exchange=exchange)
    producer = AIOKafkaProducer(**KafkaConnection.from_settings(settings).options(), acks="all")
    await producer.start()
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://reporting", timeout=30) as client:
                yield Harness(settings, app, client, producer, clock, keys, names)
    finally:
        await producer.stop()
        await keys.engine.dispose()
        await drop_databases(names)


def report_service(engine: AsyncEngine, calendar: WeekCalendar, clock: Clock) -> ReportService:
    """The report use cases over one store (the embedded SQLite one in unit tests), answer target 7 days."""
    return ReportService(
        weekly=WeeklyStore(engine),
        quality=QualityStore(engine),
        signoffs=SignoffStore(engine),
        campaigns=CampaignStore(engine),
        calendar=calendar,
        directory=load_directory(),
        clock=clock,
        answer_target=timedelta(days=7),
    )
