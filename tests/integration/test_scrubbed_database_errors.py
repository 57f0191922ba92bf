"""A value PostgreSQL or asyncpg quotes in an error's message itself, not in its DETAIL, reaches no log line.

Each error is made to happen on PostgreSQL, through SQLAlchemy as the services meet it, and logged as they
log one: with its traceback (the driver's own error, and its cause, in the chain) and as a field's text.
The value is a phone number: no identity number's shape, no Chinese, so only the quoting rule hides it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import build_engine
from shared.logging import configure_logging, scrub_text
from tests.support.infra import pg_admin_url

PHONE = "".join(("139", "0013", "8000"))  # not written whole here: a traceback quotes this file's lines

# (the statement, the value it refuses, what the message says instead of the value)
REFUSED = {
    "not a uuid": ("SELECT CAST(:v AS text)::uuid", PHONE, "invalid input syntax for type uuid: [redacted]"),
    "not an enum value": (
        "SELECT CAST(:v AS text)::pg_temp.kind",
        PHONE,
        "invalid input value for enum kind: [redacted]",
    ),
    "an integer out of range": (
        "SELECT CAST(:v AS text)::int",
        PHONE,
        "value [redacted] is out of range for type integer",
    ),
    "no day": ("SELECT CAST(:v AS text)::date", f"{PHONE[:4]}-13-45", "date/time field value out of range: [redacted]"),
    "no array": ("SELECT CAST(:v AS text)::int[]", "{" + PHONE, "malformed array literal: [redacted]"),
    # asyncpg's own, before anything is sent: the value cannot be written as the parameter's type
    "a uuid argument": ("SELECT CAST(:v AS uuid)", PHONE, "invalid input for query argument $1: [redacted]"),
    "an integer argument": ("SELECT CAST(:v AS int)", PHONE, "invalid input for query argument $1: [redacted]"),
}


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    url = make_url(pg_admin_url()).set(drivername="postgresql+asyncpg")
    built = build_engine(url.render_as_string(hide_password=False))
    try:
        yield built
    finally:
        await built.dispose()


async def refused(engine: AsyncEngine, statement: str, value: str) -> DBAPIError:
    async with engine.connect() as connection:
        await connection.execute(text("CREATE TYPE pg_temp.kind AS ENUM ('reported')"))
        with pytest.raises(DBAPIError) as caught:
            await connection.execute(text(statement), {"v": value})
    return caught.value


@pytest.mark.parametrize("case", list(REFUSED))
async def test_the_value_an_error_quotes_reaches_no_log_line(
    engine: AsyncEngine, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    statement, value, said = REFUSED[case]
    error = await refused(engine, statement, value)
    assert value in str(error)  # the message quotes it, or this test tests nothing
    configure_logging(service="test", fmt="json")
    try:
        raise error
    except DBAPIError:
        structlog.get_logger("t").exception("store failed")
    structlog.get_logger("t").error("refused", error=str(error))
    out = capsys.readouterr().err
    assert value not in out
    traceback, field = (json.loads(line) for line in out.splitlines())
    assert said in traceback["exception"]
    assert said in field["error"]
    assert "[SQL: SELECT CAST($1 AS" in field["error"]  # the rest of the message stays
    assert type(error.orig).__name__ in traceback["exception"]


async def test_asyncpgs_argument_error_and_its_cause_are_scrubbed_in_an_executemany_too() -> None:
    connection = await asyncpg.connect(pg_admin_url())
    try:
        with pytest.raises(asyncpg.DataError) as caught:
            await connection.executemany("SELECT $1::uuid", [("00000000-0000-0000-0000-000000000000",), (PHONE,)])
    finally:
        await connection.close()
    message, cause = str(caught.value), str(caught.value.__cause__)  # elements counted from 0
    assert PHONE in message
    assert PHONE in cause  # "invalid UUID '…': length must be between 32..36 characters, got 11"
    assert (
        scrub_text(message) == "invalid input for query argument $1 in element #1 of executemany() sequence: [redacted]"
    )
    assert scrub_text(cause).startswith("invalid UUID [redacted]: length must be")
