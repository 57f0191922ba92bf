"""A write that meets another of the same key at the same moment is a 409 to send again, never a 500."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import build_engine
from shared.db.errors import CHECKOUT_EXHAUSTED, is_data_error, is_raced, is_rolled_back, is_unavailable
from shared.http.problems import install_problem_handlers

KEY = "440111005-secret-looking-key"


class ServerError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"duplicate key value violates unique constraint: Key (id)=({KEY}) already exists")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(("state", "raced"), [("23505", True), ("23503", True), ("23502", False), ("22001", False)])
def test_unique_and_foreign_key_violations_are_races_and_not_the_datas_fault(state: str, raced: bool) -> None:
    error = sa.exc.IntegrityError("INSERT ...", None, ServerError(state))
    assert is_raced(error) is raced
    assert is_data_error(error) is not raced


@pytest.mark.parametrize(
    ("state", "rolled_back"), [("40P01", True), ("40001", True), ("23505", False), ("57P01", False)]
)
def test_a_deadlock_and_a_serialization_failure_ended_the_transaction_for_anothers_sake(
    state: str, rolled_back: bool
) -> None:
    error = sa.exc.DBAPIError("COPY", None, ServerError(state))
    assert is_rolled_back(error) is rolled_back
    assert not is_data_error(error)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/races.db")
    async with engine.begin() as connection:
        await connection.execute(sa.text("CREATE TABLE taken (id VARCHAR(40) PRIMARY KEY)"))
    yield engine
    await engine.dispose()


async def test_the_second_insert_of_a_key_is_a_409_naming_no_value(engine: AsyncEngine) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/taken/{key}")
    async def take(key: str) -> dict[str, str]:
        async with engine.begin() as connection:  # what a check-then-insert does when another got in between
            await connection.execute(sa.text("INSERT INTO taken VALUES (:id)"), {"id": key})
        return {"taken": key}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = await client.post(f"/taken/{KEY}")
        second = await client.post(f"/taken/{KEY}")
    assert first.status_code == 200
    assert second.status_code == 409, second.text
    assert second.headers["content-type"].startswith("application/problem+json")
    assert "before sending it again" in second.json()["detail"]
    assert KEY not in second.text


@pytest.mark.parametrize("state", ["40P01", "40001"])
async def test_a_write_the_store_ended_for_anothers_sake_is_a_503_to_send_again_naming_no_value(state: str) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/taken/{key}")
    async def take(key: str) -> dict[str, str]:
        # what reaches the door when a batch's own retries (intake's repository) ran out
        raise sa.exc.DBAPIError("INSERT ...", {"id": key}, ServerError(state))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(f"/taken/{KEY}")
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Send it again" in response.json()["detail"]
    assert KEY not in response.text


async def test_a_store_whose_host_name_does_not_resolve_is_a_503_handled_as_the_stores_error() -> None:
    """compose's `postgres` while its container is stopped: socket.gaierror, an OSError but no ConnectionError.
    It was a 500, and Starlette logged it as a crash, since no store handler took it."""
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/records")
    async def records() -> None:
        raise socket.gaierror(-2, "Name or service not known")

    transport = httpx.ASGITransport(app=app)  # an error that reached the catch-all would be raised here
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/records")
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()


def test_what_the_pool_raises_when_every_connection_it_checked_out_was_closed_is_the_store_unavailable() -> None:
    assert is_unavailable(sa.exc.InvalidRequestError(CHECKOUT_EXHAUSTED))
    assert not is_unavailable(sa.exc.InvalidRequestError("A value is required for bind parameter 'id'"))
