"""INSERT ... ON CONFLICT DO UPDATE on PostgreSQL and SQLite alike: one statement, so two writers of the
same key at once both succeed (the later wins) where a delete-then-insert made one of them fail."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine


def upsert(engine: AsyncEngine, table: sa.Table, columns: Collection[str], keys: list[str]) -> Any:
    """The statement for rows of `columns`, overwriting every column but `keys` when the key exists."""
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(table)
    changed = {c: statement.excluded[c] for c in columns if c not in keys}
    return statement.on_conflict_do_update(index_elements=keys, set_=changed)
