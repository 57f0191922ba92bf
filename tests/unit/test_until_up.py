"""Start-up's retries wait for a dependency that is coming up, not for a setting that is wrong."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from shared.db.errors import is_refused_for_good
from shared.retry import until_up


def _refusal(kind: type[asyncpg.PostgresError], state: str, message: str) -> DBAPIError:
    """A refusal as SQLAlchemy's asyncpg dialect raises it: the server's error behind a DBAPIError."""
    driver = kind.new({"M": message, "C": state})
    error = DBAPIError("SELECT 1", None, driver)
    error.__cause__ = driver
    return error


REFUSED = [
    _refusal(asyncpg.exceptions.InvalidPasswordError, "28P01", 'password authentication failed for user "p"'),
    _refusal(asyncpg.exceptions.InvalidAuthorizationSpecificationError, "28000", "no pg_hba.conf entry"),
    _refusal(asyncpg.exceptions.InvalidCatalogNameError, "3D000", 'database "x" does not exist'),
    _refusal(asyncpg.exceptions.InsufficientPrivilegeError, "42501", "permission denied for schema public"),
]
PASSING = [
    _refusal(asyncpg.exceptions.CannotConnectNowError, "57P03", "the database system is starting up"),
    _refusal(asyncpg.exceptions.TooManyConnectionsError, "53300", "sorry, too many clients already"),
    ConnectionRefusedError("connection refused"),
]


def tries_until_up(error: BaseException, failing: int) -> int:
    """How many tries start-up's retry makes of a step that raises `error` its first `failing` times (it raises
    what it gives up on)."""
    tries = 0

    async def start() -> None:
        nonlocal tries
        async for attempt in until_up(within_s=30, for_good=is_refused_for_good):
            with attempt:
                tries += 1
                if tries <= failing:
                    raise error

    asyncio.run(start())
    return tries


@pytest.mark.parametrize("error", REFUSED, ids=lambda e: type(getattr(e, "orig", e)).__name__)
def test_a_refusal_no_wait_mends_is_raised_at_the_first_try(error: BaseException) -> None:
    assert is_refused_for_good(error)
    with pytest.raises(type(error)):
        tries_until_up(error, failing=2)


@pytest.mark.parametrize("error", PASSING, ids=lambda e: type(getattr(e, "orig", e)).__name__)
def test_a_database_starting_or_full_is_waited_for(error: BaseException) -> None:
    assert not is_refused_for_good(error)
    assert tries_until_up(error, failing=2) == 3
