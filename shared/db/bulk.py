"""A batch's rows in one PostgreSQL statement, on an asyncpg connection (a session's, inside its transaction).

`INSERT ... SELECT ... FROM json_populate_recordset(NULL::table, $1::json)`
(or `UPDATE ... FROM json_populate_recordset(...)`): the rows go as one JSON
document (orjson, in C), PostgreSQL reads them into the table's own row type
and runs one statement for the batch. The rows' count goes with them, as the
LIMIT of what the document yields: the planner otherwise takes a set-returning
function for 100 rows, and for a batch of a few against a table of a few
thousand it scanned the whole table and hashed (notification's push attempts,
6.5 ms a batch) where looking each row up by its key took 0.2 ms
(docs/performance.md, round 16). Each part's rows are thus two parameters.
SQLAlchemy's bulk insert did the same work per row and per column in Python,
a fifth of routing's CPU per decision. One array per column (`unnest`), used
until round 15, left asyncpg checking every element against the collection
ABCs: 20 µs of the client's CPU a 15-column row against 5 as JSON
(docs/performance.md, round 15). Other databases (SQLite in unit tests and
small deployments) keep SQLAlchemy's statements: `driver` returns None.
Routing writes a batch of decisions with it, notification a batch of notices
and of push attempts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from operator import itemgetter
from typing import Any

import asyncpg
import orjson
from sqlalchemy import DateTime, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import SQLModel

from shared.db.engine import driver_of


async def driver(session: AsyncSession) -> asyncpg.Connection | None:
    """The session's asyncpg connection, its transaction begun; None when the database is not PostgreSQL."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    raw = await driver_of(await session.connection())
    if not raw.is_in_transaction():
        # SQLAlchemy begins lazily, at its first statement: let it, so the rows join its transaction
        await session.execute(text("SELECT 1"))
    return raw


@dataclass(frozen=True, slots=True)
class Rows:
    """Rows for one table (dicts with the same columns), written as `insert` writes them.

    `returning`: a column whose values come back for the rows actually inserted.
    `with_returned`: a column of these rows; only the rows whose value in it came
    back from the returning part are inserted (a notice's delivery with its notice).
    `update_by`: the rows are not inserted but update the table's rows whose column
    of that name holds the same value, setting their other columns.
    `unchanged` (with `update_by`): a column, not set, that must still hold the row's
    value for the row to be updated (the version it was read at); with `returning`,
    the rows updated are the ones whose values come back.
    """

    table: type[SQLModel]
    rows: Sequence[dict[str, Any]]
    key: str | None = None
    overwrite: bool = False
    returning: str | None = None
    with_returned: str | None = None
    update_by: str | None = None
    unchanged: str | None = None


async def insert_together(raw: asyncpg.Connection, parts: Sequence[Rows]) -> list[Any]:
    """Several tables' rows in one statement (each an `INSERT ... SELECT` of its own, or an `UPDATE ... FROM`,
    joined as data-modifying WITH queries): one round trip instead of one per table.

    Returns the `returning` column's values of the one part that asks for them (at most one), or [].
    """
    if not any(part.rows for part in parts):
        return []
    sql, arguments = statement(parts)
    found = await raw.fetch(sql, *arguments)
    return [row[0] for row in found]


def statement(parts: Sequence[Rows]) -> tuple[str, list[Any]]:
    """`insert_together`'s statement for `parts` and its arguments, to run or to explain (parts without rows
    are left out; ValueError when none has any)."""
    parts = [part for part in parts if part.rows]
    if not parts:
        raise ValueError("no part has rows: there is no statement to make")
    if sum(part.returning is not None for part in parts) > 1:
        raise ValueError("at most one part returns values")
    if any(part.with_returned for part in parts) and not any(part.returning for part in parts):
        raise ValueError("a part keeps the rows of the returned values, and no part returns any")
    parts.sort(key=lambda part: part.returning is None)  # the one returning values first: the others may read it
    shapes, arguments = [], list[Any]()
    for part in parts:
        columns, document = _rows_json(part.table, part.rows)
        shapes.append(
            (
                part.table,
                columns,
                part.key,
                part.overwrite,
                part.returning,
                part.with_returned,
                part.update_by,
                part.unchanged,
            )
        )
        arguments += [document, len(part.rows)]
    return _together_sql(tuple(shapes)), arguments


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
    columns, document = _rows_json(table, rows)
    await raw.execute(_insert_sql(table, columns, key, overwrite), document, len(rows))


class UnwritableValue(ValueError):
    """A value the batch cannot carry as it is: the client refusing the data, as asyncpg's own DataError
    did for the arrays (SQLSTATE 22000, data exception), so failure policies treat it as permanent."""

    sqlstate = "22000"


def _rows_json(table: type[SQLModel], rows: Sequence[dict[str, Any]]) -> tuple[tuple[str, ...], str]:
    """The rows' columns (the first row's, the same in every row), and the rows as one JSON array of objects.

    Timestamps must be datetimes with an offset in whole minutes (orjson writes it to the minute: an
    offset in seconds would move the instant); a JSON column's value is nested as it is.
    """
    columns, first = tuple(rows[0]), rows[0].keys()
    if any(row.keys() != first for row in rows):
        raise UnwritableValue("every row of a batch holds the same columns")
    for column in _timestamps(table, columns):
        for value in map(itemgetter(column), rows):
            if value is None:
                continue
            if not isinstance(value, datetime):
                raise UnwritableValue(f"{column} holds a {type(value).__name__}, not a timestamp")
            offset = value.utcoffset()
            if offset is None:
                raise UnwritableValue("timestamps are stored with their offset: naive datetimes are refused")
            if offset.seconds % 60 or offset.microseconds:
                raise UnwritableValue(f"{column}: an offset in seconds is not written to the second")
    try:
        return columns, orjson.dumps(rows).decode()
    except orjson.JSONEncodeError as error:  # a type JSON has no form for (bytes, Decimal, ...), an int over 64 bits
        raise UnwritableValue(f"a value of the batch has no JSON form ({error})") from error


async def existing(raw: asyncpg.Connection, table: type[SQLModel], column: str, values: Sequence[str]) -> set[str]:
    """The `values` found in `column` of `table`, in one query."""
    found = await raw.fetch(_select_sql(table, column), list(values))
    return {row[0] for row in found}


@cache
def _timestamps(table: type[SQLModel], columns: tuple[str, ...]) -> tuple[str, ...]:
    """The `columns` that hold timestamps (each a column of the table's, or KeyError). Every timestamp
    column of the stores that use this is timestamptz (their migrations): a naive datetime, which would
    be read as the server's local time, is refused."""
    table_columns = _columns(table)
    return tuple(c for c in columns if isinstance(_underlying(table_columns[c].type), DateTime))


@cache
def _select_sql(table: type[SQLModel], column: str) -> str:
    _columns(table)[column]  # a column of the table's, or KeyError
    return f'SELECT "{column}" FROM "{_table_name(table)}" WHERE "{column}" = ANY($1::text[])'  # noqa: S608 - names are the table's


_Shape = tuple[type[SQLModel], tuple[str, ...], str | None, bool, str | None, str | None, str | None, str | None]


@cache
def _together_sql(shapes: tuple[_Shape, ...]) -> str:
    """`_insert_sql` of each shape, numbered on from the one before, as WITH queries (data-modifying
    WITH queries run whether read or not); the main statement reads what the first one returns.

    Without a returning part (none asks for values), the last insert is the main statement.
    """
    statements, first = [], 1
    returned = shapes[0][4]
    for table, columns, key, overwrite, returning, with_returned, update_by, unchanged in shapes:
        for name in (returning, with_returned, update_by, unchanged):
            if name is not None:
                _columns(table)[name]  # a column of the table's, or KeyError
        kept = (with_returned, returned) if with_returned and returned else None
        sql = (
            _update_sql(table, columns, update_by, first=first, unchanged=unchanged)
            if update_by
            else _insert_sql(table, columns, key, overwrite, first=first, kept=kept)
        )
        # an update's FROM holds the given rows too: the table's own column is the one returned
        owner = f'"{_table_name(table)}".' if update_by else ""
        statements.append(f'{sql} RETURNING {owner}"{returning}"' if returning else sql)
        first += 2  # a part's rows are two parameters: the document and its count
    if returned:
        return _with(statements) + f' SELECT "{returned}" FROM part0'  # noqa: S608 - a column's name
    *before, last = statements
    return f"{_with(before)} {last}" if before else last


def _with(statements: Sequence[str]) -> str:
    return "WITH " + ", ".join(f"part{i} AS ({sql})" for i, sql in enumerate(statements))


@cache
def _insert_sql(
    table: type[SQLModel],
    columns: tuple[str, ...],
    key: str | None,
    overwrite: bool,
    *,
    first: int = 1,
    kept: tuple[str, str] | None = None,
) -> str:
    """The INSERT of `columns` from the rows in parameter $`first`. `kept` (column, returned column):
    only the rows whose column's value part0 returned (see `Rows.with_returned`)."""
    names, rows = _given(table, columns, first)
    sql = f'INSERT INTO "{_table_name(table)}" ({names}) SELECT {names} FROM {rows}'  # noqa: S608 - names are the table's
    if kept is not None:
        column, returned = kept
        sql += f' WHERE given."{column}" IN (SELECT "{returned}" FROM part0)'  # noqa: S608 - columns' names
    if key is None:
        return sql
    if not overwrite:
        return f"{sql} ON CONFLICT DO NOTHING"  # any unique clash skips the row, as the INSERT it replaced did
    changes = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c != key)
    return f'{sql} ON CONFLICT ("{key}") DO UPDATE SET {changes}'


@cache
def _update_sql(
    table: type[SQLModel], columns: tuple[str, ...], key: str, *, first: int = 1, unchanged: str | None = None
) -> str:
    """The UPDATE of the rows whose `key` matches one given (and whose `unchanged` column still holds the given
    value), setting the other `columns` to the given values."""
    for column in (key, unchanged):
        if column is not None and column not in columns:
            raise ValueError(f"rows that update by {column!r} must hold it")
    name, (_, rows) = _table_name(table), _given(table, columns, first)
    changes = ", ".join(f'"{c}" = given."{c}"' for c in columns if c not in (key, unchanged))
    sql = f'UPDATE "{name}" SET {changes} FROM {rows} WHERE "{name}"."{key}" = given."{key}"'  # noqa: S608 - names are the table's
    return f'{sql} AND "{name}"."{unchanged}" = given."{unchanged}"' if unchanged else sql


def _given(table: type[SQLModel], columns: tuple[str, ...], first: int) -> tuple[str, str]:
    """The quoted column names (the rows' keys, as the JSON document names them; `_rows_json` found each
    a column of the table's), and the rows of parameter $`first` read into the table's row type, as `given`;
    parameter $`first + 1` is their count, which the planner reads from the LIMIT."""
    names = ", ".join(f'"{c}"' for c in columns)
    rows = f'json_populate_recordset(NULL::"{_table_name(table)}", ${first}::json)'
    return names, f"(SELECT * FROM {rows} LIMIT ${first + 1}::integer) AS given"  # noqa: S608 - the table's name


def _underlying(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
    return column_type.impl_instance if isinstance(column_type, TypeDecorator) else column_type


def _table_name(table: type[SQLModel]) -> str:
    return str(table.__tablename__)


def _columns(table: type[SQLModel]) -> Any:
    return SQLModel.metadata.tables[_table_name(table)].columns
