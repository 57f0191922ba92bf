"""INSERT ... ON CONFLICT on PostgreSQL and SQLite alike, one statement each.

`upsert`: two writers of the same key at once both succeed and the later stands, where a
delete-then-insert made one of them fail (for rows without rules on who may follow whom).
`first_insert`: only the first writer of a key writes; the others see a rowcount of 0.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine


def conflict_insert(dialect: Dialect) -> Any:
    """The INSERT that takes ON CONFLICT in `dialect` (PostgreSQL in production, SQLite embedded)."""
    return postgresql.insert if dialect.name == "postgresql" else sqlite.insert


def first_insert(engine: AsyncEngine, table: sa.Table, keys: list[str]) -> Any:
    """An insert that writes nothing when the key exists (its rowcount 0): for a row only the first may write."""
    return conflict_insert(engine.dialect)(table).on_conflict_do_nothing(index_elements=keys)


def upsert(engine: AsyncEngine, table: sa.Table, columns: Collection[str], keys: list[str]) -> Any:
    """The statement for rows of `columns`, overwriting every column but `keys` when the key exists."""
    statement = conflict_insert(engine.dialect)(table)
    changed = {c: statement.excluded[c] for c in columns if c not in keys}
    return statement.on_conflict_do_update(index_elements=keys, set_=changed)
