"""How a batch's rows go in: copied or inserted by the table, or records and events as one statement;
JSON written by orjson, and the driver's failures raised as SQLAlchemy's."""

from __future__ import annotations

import contextlib
import functools
import operator
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import orjson
from sqlalchemy import JSON, Column, Dialect, MetaData, Table, TypeDecorator, insert, inspect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from services.intake.adapters.record_statements import EVENT_COLUMNS, RECORD_COLUMNS, RECORDS_AND_EVENTS
from shared.db.engine import driver_of

COPY_FROM = 100  # rows of one table in one transaction: a bulk batch is copied, grouped POSTs inserted


def core_table(model: type[SQLModel]) -> Table:
    """The model's Core table: statements on it skip the ORM's bulk-insert layer (a tenth of a POST's CPU)."""
    table = inspect(model).local_table
    assert isinstance(table, Table)
    return table


async def insert_rows(session: AsyncSession, model: type[SQLModel], values: list[dict[str, Any]]) -> None:
    """Rows into the model's table: COPY for a bulk batch on PostgreSQL, else one INSERT for them all.

    COPY costs the server and this process a fraction of an INSERT executed
    per row; below COPY_FROM rows (single POSTs grouped) the INSERT's cached
    statement is as quick. A unique violation is an IntegrityError either way,
    so a batch that met a concurrent writer is retried the same way.
    """
    if len(values) < COPY_FROM or session.get_bind().dialect.name != "postgresql":
        await session.execute(insert(_written(model)), values)
        return
    table = core_table(model)
    columns = list(values[0])
    cells = operator.itemgetter(*columns)
    json_at = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
    rows = []
    for row in values:
        copied = list(cells(row))
        for i in json_at:
            copied[i] = orjson.dumps(copied[i]).decode()
        rows.append(tuple(copied))
    driver = await driver_of(await session.connection())
    with as_sqlalchemy_errors("COPY"):
        await driver.copy_records_to_table(table.name, records=rows, columns=columns)


@contextlib.contextmanager
def as_sqlalchemy_errors(statement: str) -> Iterator[None]:
    """asyncpg's failures of a statement sent on the driver, raised as SQLAlchemy raises its own: a unique
    violation is an IntegrityError (the batch is retried), anything else a DBAPIError (the store-error
    answer, 503, not a 500)."""
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as error:
        raise IntegrityError(statement, None, error) from None
    except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError) as error:
        raise DBAPIError(statement, None, error) from None


async def insert_records_and_events(
    session: AsyncSession, records: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    """`insert_rows` of the records, then of their events, as one statement (PostgreSQL; JSON as orjson writes it)."""
    arrays: list[list[Any]] = []
    for values, columns, json_column in ((records, RECORD_COLUMNS, "record"), (events, EVENT_COLUMNS, "envelope")):
        for column in columns:
            cells = [row[column] for row in values]
            arrays.append([orjson.dumps(cell).decode() for cell in cells] if column == json_column else cells)
    driver = await driver_of(await session.connection())
    with as_sqlalchemy_errors("INSERT"):
        await driver.execute(RECORDS_AND_EVENTS, *arrays)


class _FastJSON(TypeDecorator[Any]):
    """A JSON column written with orjson: the standard library's encoder was a tenth of a bulk row's CPU.

    The same JSON (compact, UTF-8 rather than escapes); reads are untouched.
    """

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], str | None]:
        def process(value: Any) -> str | None:
            return None if value is None else orjson.dumps(value).decode()

        return process


@functools.cache
def _written(model: type[SQLModel]) -> Table:
    """The model's table for inserts: its JSON columns encoded by orjson."""
    table = core_table(model)
    columns = [Column(c.name, _FastJSON() if isinstance(c.type, JSON) else c.type) for c in table.columns]
    return Table(table.name, MetaData(), *columns)
