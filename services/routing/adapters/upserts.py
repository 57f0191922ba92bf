"""INSERT ... ON CONFLICT in the session's dialect, and rows upserted by key: the driver's bulk statement on
PostgreSQL, one SQLAlchemy statement elsewhere."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from shared.db import bulk
from shared.db.upsert import conflict_insert


def insert_for(session: AsyncSession) -> Any:
    """INSERT with ON CONFLICT, in the dialect of the session's database."""
    return conflict_insert(session.get_bind().dialect)


async def upsert(session: AsyncSession, table: type[SQLModel], rows: list[dict[str, Any]], *, key: str) -> None:
    if not rows:
        return
    if raw := await bulk.driver(session):
        await bulk.insert(raw, table, rows, key=key, overwrite=True)
        return
    # one statement with many parameter sets: compiled once and cached, sent in bulk (insertmanyvalues)
    statement = insert_for(session)(table)
    columns = {name: statement.excluded[name] for name in rows[0] if name != key}
    await session.execute(statement.on_conflict_do_update(index_elements=[key], set_=columns), rows)
