"""Notification's 0014 marks the inbox notices a partner sent before it, from the exchange's own log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from services.notification.bootstrap import MIGRATIONS
from shared.db import build_engine, run_migrations
from tests.support.infra import create_database, drop_database, unique_name
from tests.support.stores import STORES

NOTICE = (
    "INSERT INTO inbox_notices (notice_id, recipient_code, record_id, route, kind, reason, person_sealed, "
    "issued_at, received_at, status, answer_expected) VALUES (:id, '440106002', :record, 'inter-district', "
    "'transfer', 'r', 'pf1.k.x', :at, :at, 'issued', false)"
)
RECEIVED = (
    "INSERT INTO exchange_received (message_id, kind, partner, sender_code, notice_id, record_id, "
    "local_notice_id, received_at) VALUES ('m-1', 'notice', 'baiyun', '440111', 'theirs', 'r-partner', "
    "'from-partner', :at)"
)


@pytest.mark.parametrize("kind", STORES)
async def test_notices_taken_from_a_partner_before_0014_are_marked_so(kind: str, tmp_path: Path) -> None:
    name = unique_name("inbox_")
    url = f"sqlite+aiosqlite:///{tmp_path}/inbox.db" if kind == "sqlite" else await create_database(name)
    engine = build_engine(url)
    try:
        await run_migrations(engine, MIGRATIONS, revision="0013")
        at = datetime(2026, 12, 2, tzinfo=UTC)
        async with engine.begin() as connection:
            await connection.execute(text(NOTICE), {"id": "from-partner", "record": "r-partner", "at": at})
            await connection.execute(text(NOTICE), {"id": "ours", "record": "r-ours", "at": at})
            await connection.execute(text(RECEIVED), {"at": at})
        await run_migrations(engine, MIGRATIONS)
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT notice_id, from_partner FROM inbox_notices"))).all()
        assert sorted((row[0], bool(row[1])) for row in rows) == [("from-partner", True), ("ours", False)]
    finally:
        await engine.dispose()
        if kind == "postgresql":
            await drop_database(name)
