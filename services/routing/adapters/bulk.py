"""A batch's rows in one PostgreSQL statement, on the session's connection and inside its transaction.

`INSERT ... SELECT * FROM unnest($1::text[], ...)`: asyncpg encodes each
column as one array (in C) and PostgreSQL runs one statement for the batch.
SQLAlchemy's bulk insert did the same work per row and per column in Python,
a fifth of routing's CPU per decision. Other databases (SQLite in unit tests
and small deployments) keep SQLAlchemy's statements: `driver` returns None.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from operator import itemgetter
from typing import Any, cast

import asyncpg
from sqlalchemy import Boolean, DateTime, Integer, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import SQLModel

# element types of the column arrays, by the column's SQLAlchemy type; text for the rest (varchar,
# text), which PostgreSQL assigns to varchar columns. Every timestamp column of routing's store is
# timestamptz (the migrations), whatever the model says: a naive cast would shift instants.
_ARRAY_TYPES: tuple[tuple[type[TypeEngine[Any]], str], ...] = (
    (DateTime, "timestamptz"),
    (Boolean, "bool"),
    (Integer, "int8"),
)


async def driver(session: AsyncSession) -> asyncpg.Connection | None:
    """The session's asyncpg connection, its transaction begun; None when the database is not PostgreSQL."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    connection = await (await session.connection()).get_raw_connection()
    raw = cast(asyncpg.Connection, connection.driver_connection)
    if not raw.is_in_transaction():
        # SQLAlchemy begins lazily, at its first statement: let it, so the rows join its transaction
        await session.execute(text("SELECT 1"))
    return raw


async def insert(
    raw: asyncpg.Connection,
    table: type[SQLModel],
    rows: Sequence[dict[str, Any]],
    *,
    key: str | None = None,
    overwrite: bool = False,
) -> None:
    """Insert `rows` (dicts with the same columns). With `key`, a row whose key exists
    already is skipped, or overwrites the existing one with `overwrite`."""
    if not rows:
        return
    columns = tuple(rows[0])
    values = itemgetter(*columns)
    # one array per column: itemgetter and zip do the transposing in C
    arrays = (
        [list(column) for column in zip(*map(values, rows), strict=True)]
        if len(columns) > 1
        else [[row[columns[0]] for row in rows]]
    )
    for i in _timestamp_positions(table, columns):
        if any(v is not None and v.utcoffset() is None for v in arrays[i]):
            raise ValueError("timestamps are stored with their offset: naive datetimes are refused")
    await raw.execute(_insert_sql(table, columns, key, overwrite), *arrays)


async def existing(raw: asyncpg.Connection, table: type[SQLModel], column: str, values: Sequence[str]) -> set[str]:
    """The `values` found in `column` of `table`, in one query."""
    found = await raw.fetch(_select_sql(table, column), list(values))
    return {row[0] for row in found}


@cache
def _timestamp_positions(table: type[SQLModel], columns: tuple[str, ...]) -> tuple[int, ...]:
    table_columns = _columns(table)
    return tuple(i for i, c in enumerate(columns) if _array_type(table_columns[c].type) == "timestamptz")


@cache
def _select_sql(table: type[SQLModel], column: str) -> str:
    _columns(table)[column]  # a column of the table's, or KeyError
    return f'SELECT "{column}" FROM "{_table_name(table)}" WHERE "{column}" = ANY($1::text[])'  # noqa: S608 - names are the table's


@cache
def _insert_sql(table: type[SQLModel], columns: tuple[str, ...], key: str | None, overwrite: bool) -> str:
    table_columns = _columns(table)
    names = ", ".join(f'"{c}"' for c in columns)
    arrays = ", ".join(f"${i}::{_array_type(table_columns[c].type)}[]" for i, c in enumerate(columns, 1))
    sql = f'INSERT INTO "{_table_name(table)}" ({names}) SELECT * FROM unnest({arrays})'  # noqa: S608 - names are the table's
    if key is None:
        return sql
    if not overwrite:
        return f"{sql} ON CONFLICT DO NOTHING"  # any unique clash skips the row, as the INSERT it replaced did
    changes = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c != key)
    return f'{sql} ON CONFLICT ("{key}") DO UPDATE SET {changes}'


def _array_type(column_type: TypeEngine[Any]) -> str:
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    return next((name for kind, name in _ARRAY_TYPES if isinstance(column_type, kind)), "text")


def _table_name(table: type[SQLModel]) -> str:
    return str(table.__tablename__)


def _columns(table: type[SQLModel]) -> Any:
    return SQLModel.metadata.tables[_table_name(table)].columns
