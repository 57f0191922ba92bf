"""Notification's 0016 puts the deliveries stored before it in their first round, and bounds the round's number."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from services.notification.adapters.deliveries import ROUND_NUMBERS
from services.notification.bootstrap import MIGRATIONS
from shared.db import build_engine, run_migrations
from tests.support.infra import create_database, drop_database, unique_name
from tests.support.stores import STORES

DELIVERY = (
    "INSERT INTO deliveries (notice_id, recipient_code, state, round_attempts, total_attempts, next_attempt_at, "
    "updated_at) VALUES (:id, '440111008', 'pending', 1, 1, :at, :at)"
)


@pytest.mark.parametrize("kind", STORES)
async def test_deliveries_stored_before_0016_are_in_round_zero_and_the_number_is_bounded(
    kind: str, tmp_path: Path
) -> None:
    name = unique_name("rounds_")
    url = f"sqlite+aiosqlite:///{tmp_path}/rounds.db" if kind == "sqlite" else await create_database(name)
    engine = build_engine(url)
    try:
        await run_migrations(engine, MIGRATIONS, revision="0015")
        at = datetime(2027, 2, 24, tzinfo=UTC)
        async with engine.begin() as connection:
            await connection.execute(text(DELIVERY), {"id": "before", "at": at})
        await run_migrations(engine, MIGRATIONS)
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT notice_id, round_number FROM deliveries"))).all()
        assert [tuple(row) for row in rows] == [("before", 0)]
        for out_of_bounds in (-1, ROUND_NUMBERS):
            async with engine.connect() as connection:
                with pytest.raises(IntegrityError):
                    await connection.execute(text("UPDATE deliveries SET round_number = :n"), {"n": out_of_bounds})
    finally:
        await engine.dispose()
        if kind == "postgresql":
            await drop_database(name)
