"""Rows of a batch read and locked in one statement, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from shared.db.among import among

Row = TypeVar("Row", bound=SQLModel)


async def locked(session: AsyncSession, table: type[Row], key: Any, values: Collection[str]) -> list[Row]:
    """The rows of `table` whose `key` column holds one of `values`, locked in the order of that key (two
    transactions locking overlapping batches take their rows in the same order) and read anew even when the
    session holds them already (a statement written past the session may have changed them)."""
    if not values:
        return []
    # one statement text whatever the batch's size (shared.db.among): asyncpg prepares it once
    query = (
        select(table)
        .where(among(key, "values", session.get_bind().dialect.name))
        .order_by(key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(query, {"values": sorted(set(values))})).scalars())
