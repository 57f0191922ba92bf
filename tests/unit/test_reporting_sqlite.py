"""The fold and the weekly queries on the embedded SQLite store (`make run-sqlite`).

The same scripted week as the PostgreSQL tests, folded without Kafka, must
give the same figures: migrations 0001-0002 and every query work on both.
Folding everything twice (a re-delivery) changes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.decoding import Decoder
from services.reporting.adapters.fold import FactWriter
from services.reporting.adapters.quality_store import QualityStore
from services.reporting.adapters.weekly_store import WeeklyStore
from services.reporting.bootstrap import MIGRATIONS
from services.reporting.domain.weeks import WeekCalendar
from shared.db import build_engine, run_migrations
from tests.support import scripted_week as week
from tests.support.infra import TEST_KEYRING
from tests.support.records import TONGDE, XINSHI

CALENDAR = WeekCalendar(ZoneInfo("Asia/Shanghai"))


@dataclass
class Message:
    value: bytes
    topic: str = "t"
    offset: int = 0


def envelope(kind: str, payload: Mapping[str, Any], version: int = 1) -> Message:
    """The envelope of shared/events around a payload as the producers of 2027-W08 sent it (version 1 but
    for the notices, whose kinds the report tells apart)."""
    body = {
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "version": version,
        "occurred_at": "2027-02-20T00:00:00+00:00",
        "producer": "test",
        "correlation_id": str(payload.get("record_id") or "none"),
        "payload": payload,
    }
    return Message(json.dumps(body).encode())


def scripted_messages() -> list[Message]:
    messages = [envelope("RecordSubmitted", p) for p in week.RECORDS]
    messages += [envelope("RecordRouted", p) for p in week.ROUTED]
    messages += [envelope("NoticeIssued", p, week.NOTICE_VERSION) for p in week.NOTICES]
    messages += [envelope("NoticeAnswered", week.ANSWER)]
    messages += [envelope("RecordRejected", p) for p in week.REJECTIONS]
    return messages


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/reporting.db")
    await run_migrations(engine, MIGRATIONS)
    yield engine
    await engine.dispose()


async def test_scripted_week_on_sqlite(engine: AsyncEngine) -> None:
    calendar = CALENDAR
    messages = scripted_messages()
    decoded = Decoder(calendar, b"secret", TEST_KEYRING).decode([*messages, Message(b"{not json")])
    assert len(decoded.unreadable) == 1
    writer = FactWriter(engine)
    await writer.write(decoded.batch)
    await writer.write(
        Decoder(calendar, b"secret", TEST_KEYRING).decode(list(reversed(messages))).batch
    )  # re-delivered

    bounds = calendar.bounds("2027-W08")
    rows, total = await WeeklyStore(engine).street_weeks(
        bounds, week.BAIYUN, as_of=bounds.ends_at, target=None, on=bounds.ends_at.date()
    )
    assert rows[TONGDE].figures == {**week.TONGDE_W08, "target_population": 0}
    assert rows[XINSHI].figures == week.XINSHI_W08
    assert sorted(rows[TONGDE].delays_s) == [30.0, 3600.0, 7200.0, 7200.0, 21600.0]
    assert rows[TONGDE].late_at is None
    assert total is None  # SQLite hands the delays over; the domain summarises them
    quality = await QualityStore(engine).counts(bounds, TONGDE, as_of=bounds.ends_at, answer_target=timedelta(days=7))
    assert (quality[TONGDE].missing_any, quality[TONGDE].persons_seen_again) == (4, 1)


async def test_a_record_routed_before_it_is_submitted_counts_in_the_week_only_once_submitted(
    engine: AsyncEngine,
) -> None:
    """The route comes on another topic than the record and may be folded first; until the record follows,
    its row has no facts and is neither in `records` nor in `routes` (the week at its cut-off included)."""
    decoder, writer = Decoder(CALENDAR, b"secret", TEST_KEYRING), FactWriter(engine)
    await writer.write(decoder.decode(scripted_messages()).batch)
    early = week.submitted(
        "r8",
        street=XINSHI,
        event="new_inflow",
        observed="2027-02-23T10:00:00",
        received="2027-02-23T11:00:00",
        person=30,
    )
    routed = week.routed("r8", "same-district", XINSHI, XINSHI, "2027-02-23T10:00:00")
    bounds, store = CALENDAR.bounds("2027-W08"), WeeklyStore(engine)

    async def xinshi(received_before: datetime | None) -> tuple[int, int, int]:
        rows, _ = await store.street_weeks(
            bounds,
            week.BAIYUN,
            as_of=bounds.ends_at,
            target=None,
            on=bounds.ends_at.date(),
            received_before=received_before,
        )
        return rows[XINSHI].records, rows[XINSHI].routes["same-district"], rows[XINSHI].figures["new_inflow"]

    await writer.write(decoder.decode([envelope("RecordRouted", routed)]).batch)
    assert (await xinshi(None), await xinshi(bounds.ends_at)) == ((1, 0, 1), (1, 0, 1))  # the scripted week's

    await writer.write(decoder.decode([envelope("RecordSubmitted", early)]).batch)
    assert (await xinshi(None), await xinshi(bounds.ends_at)) == ((2, 1, 2), (2, 1, 2))
