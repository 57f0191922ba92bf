"""Published outbox rows go some days after publication, or at once when none are kept; nothing unpublished ever does.

Both outboxes, both stores."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from faststream.kafka import KafkaBroker
from sqlalchemy import insert, select

from services.intake.adapters.tables import OutboxRow as IntakeOutboxRow
from services.intake.bootstrap import MIGRATIONS as INTAKE_MIGRATIONS
from services.notification.adapters.tables import OutboxRow as StatusOutboxRow
from services.notification.bootstrap import MIGRATIONS as NOTIFICATION_MIGRATIONS
from shared.clock import FixedClock
from shared.db import session_factory
from shared.db.outbox import OutboxRelay
from shared.db.outbox_purge import OutboxPurge
from shared.topics import TopicNames
from tests.support.stores import STORES, migrated_store

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OUTBOXES = [
    pytest.param(INTAKE_MIGRATIONS, IntakeOutboxRow, id="intake"),
    pytest.param(NOTIFICATION_MIGRATIONS, StatusOutboxRow, id="notification"),
]


def _row(key: str, **times: datetime) -> dict[str, Any]:
    unset: dict[str, datetime | None] = {"sent_at": None, "set_aside_at": None, "discarded_at": None}
    return {"topic": "t", "key": key, "envelope": {"x": key}, "created_at": NOW - timedelta(days=40), **unset, **times}


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize(("migrations", "table"), OUTBOXES)
async def test_rows_published_longer_ago_than_kept_go_and_no_other_row_does(
    store: str, migrations: Path, table: type[Any], tmp_path: Path
) -> None:
    days = [timedelta(days=d) for d in (40, 30, 20, 10, 9, 8, 7, 7)]
    rows = [
        *(_row(f"old-{i}", sent_at=NOW - age - timedelta(minutes=1)) for i, age in enumerate(days)),
        _row("kept-just", sent_at=NOW - timedelta(days=7) + timedelta(minutes=1)),
        _row("kept-recent", sent_at=NOW - timedelta(hours=1)),
        _row("unsent"),
        _row("set-aside", set_aside_at=NOW - timedelta(days=30)),
        _row("discarded", set_aside_at=NOW - timedelta(days=30), discarded_at=NOW - timedelta(days=29)),
    ]
    async with migrated_store(store, "outbox_purge_", migrations, tmp_path) as engine:
        async with engine.begin() as connection:
            await connection.execute(insert(table), rows)
        sessions = session_factory(engine)
        # chunks of 3: the eight rows go in three transactions
        purge = OutboxPurge(sessions, table, keep=timedelta(days=7), chunk=3, clock=FixedClock(NOW))

        assert await purge.purge() == len(days)
        assert await purge.purge() == 0
        async with engine.connect() as connection:
            left = sorted((await connection.execute(select(table.__table__.c.key))).scalars())
        assert left == ["discarded", "kept-just", "kept-recent", "set-aside", "unsent"]


class _Confirming:
    """A broker that confirms every send at once, noting the keys sent."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    async def publish(self, message: dict[str, Any], topic: str, *, key: bytes, **_: Any) -> asyncio.Future[object]:
        self.keys.append(key.decode())
        confirmation: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        confirmation.set_result(None)
        return confirmation


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize(("migrations", "table"), OUTBOXES)
async def test_kept_for_no_days_a_row_goes_once_kafka_confirmed_it_and_no_other_row_does(
    store: str, migrations: Path, table: type[Any], tmp_path: Path
) -> None:
    rows = [
        _row("sent-earlier", sent_at=NOW - timedelta(hours=1)),  # published while rows were kept: the purge's
        *(_row(f"unsent-{i}") for i in range(3)),
        _row("set-aside", set_aside_at=NOW - timedelta(days=30)),
        _row("discarded", set_aside_at=NOW - timedelta(days=30), discarded_at=NOW - timedelta(days=29)),
    ]
    for row in rows:  # what the relay publishes: an envelope
        row["envelope"] = {"event_id": row["key"], "type": "Test", "correlation_id": row["key"], "payload": {}}
    async with migrated_store(store, "outbox_keep0_", migrations, tmp_path) as engine:
        async with engine.begin() as connection:
            await connection.execute(insert(table), rows)
        broker = _Confirming()
        sessions = session_factory(engine)
        relay = OutboxRelay(sessions, cast(KafkaBroker, broker), TopicNames("t."), table, keep_sent=False)

        assert await relay.deliver_pending() == 3
        assert broker.keys == ["unsent-0", "unsent-1", "unsent-2"]
        async with engine.connect() as connection:
            left = sorted((await connection.execute(select(table.__table__.c.key))).scalars())
        assert left == ["discarded", "sent-earlier", "set-aside"]
        assert await relay.deliver_pending() == 0
