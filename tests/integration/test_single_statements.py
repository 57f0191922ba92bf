"""Single statements sent without BEGIN/COMMIT: they take effect, and a failing one leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from shared.db import build_engine, session_factory
from shared.db.engine import SingleStatements
from tests.support.infra import create_database, drop_database, unique_name


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_single_statement_takes_effect_whole_or_not_at_all(backend: str, tmp_path: Path) -> None:
    name = unique_name("single_")
    url = f"sqlite+aiosqlite:///{tmp_path}/single.db" if backend == "sqlite" else await create_database(name)
    engine = build_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE things (id INTEGER PRIMARY KEY, label VARCHAR(10))"))
        single = SingleStatements(session_factory(engine))
        async with single.connect() as connection:
            await connection.execute(text("INSERT INTO things VALUES (:id, :label)"), [{"id": 1, "label": "a"}])

        async def insert_twice() -> None:  # the second row repeats id 1: the first must not stay
            async with single.connect() as connection:
                rows = [{"id": 2, "label": "b"}, {"id": 1, "label": "c"}]
                await connection.execute(text("INSERT INTO things VALUES (:id, :label)"), rows)

        with pytest.raises(IntegrityError):
            await insert_twice()
        async with engine.connect() as connection:
            stored = (await connection.execute(text("SELECT id, label FROM things ORDER BY id"))).all()
        assert [tuple(row) for row in stored] == [(1, "a")]
    finally:
        await engine.dispose()
        if backend == "postgresql":
            await drop_database(name)
