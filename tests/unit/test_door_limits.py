"""Limits at every door: body size, JSON nesting, bulk files (zip bomb, long lines), a store that is down.

No infrastructure: a small FastAPI app with the shared middleware and problem
handlers, and (for the store) a database URL pointing at a closed port.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import text

from services.intake.adapters.bulk_formats import MAX_LINE, BulkFormat, FileProblem, open_bulk
from shared.db import build_engine, database_ready
from shared.http.health import health_router
from shared.http.limits import MAX_JSON_DEPTH, BodyLimits, declares_more_than, json_depth
from shared.http.problems import install_problem_handlers
from tests.support.bulk_files import json_bytes, xlsx_bytes
from tests.support.records import record

CLOSED_PORT_URL = "postgresql+asyncpg://nobody:nothing@127.0.0.1:9/nothing"


class Body(BaseModel):
    value: Any = None


def limited_app(max_bytes: int = 1000) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(BodyLimits, max_bytes=max_bytes, larger={"/bulk": 5000})

    @app.post("/json")
    async def take_json(body: Body) -> dict[str, Any]:
        return {"got": body.value}

    @app.post("/bulk")
    async def take_stream(request: Request) -> dict[str, int]:
        return {"bytes": sum([len(chunk) async for chunk in request.stream()])}

    @app.post("/form")
    async def take_form(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=limited_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def nested(depth: int) -> str:
    return '{"value": ' + "[" * depth + "]" * depth + "}"


async def chunks(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 100):
        yield b"x" * 100


async def test_a_body_over_the_limit_is_a_413_problem_declared_or_streamed(client: httpx.AsyncClient) -> None:
    declared = await client.post("/json", content=b"{}" + b" " * 2000, headers={"content-type": "application/json"})
    streamed = await client.post("/form", content=chunks(3000), headers={"content-type": "text/plain"})
    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_route_with_its_own_limit_streams_up_to_it(client: httpx.AsyncClient) -> None:
    within = await client.post("/bulk", content=chunks(4000), headers={"content-type": "text/csv"})
    beyond = await client.post("/bulk", content=chunks(6000), headers={"content-type": "text/csv"})
    assert (within.status_code, within.json()) == (200, {"bytes": 4000})
    assert beyond.status_code == 413


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 5000])
async def test_json_nested_too_deeply_is_a_400_never_a_500(client: httpx.AsyncClient, depth: int) -> None:
    app = limited_app(max_bytes=100_000)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        response = await http.post("/json", content=nested(depth), headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert "nest" in response.json()["title"]


async def test_ordinary_json_passes_untouched(client: httpx.AsyncClient) -> None:
    response = await client.post("/json", json={"value": {"a": [1, {"b": "[[[[{{{{"}]}})
    assert response.json() == {"got": {"a": [1, {"b": "[[[[{{{{"}]}}


def test_json_depth_skips_brackets_inside_strings() -> None:
    assert json_depth(b'{"a": "[[[[[[", "b": [[1]]}') == 3
    assert json_depth(nested(40).encode()) == 41


async def test_a_database_that_cannot_be_reached_is_a_503_with_retry_after_and_readyz_says_why() -> None:
    engine = build_engine(CLOSED_PORT_URL)
    app = FastAPI()
    install_problem_handlers(app)

    async def db_ready() -> bool:
        return await database_ready(engine)

    app.include_router(health_router({"database": db_ready}))

    @app.post("/records")
    async def store() -> dict[str, str]:
        async with engine.begin() as connection:
            await connection.execute(text("SELECT 1"))
        return {"stored": "yes"}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        response = await http.post("/records")
        ready = await http.get("/readyz")
    await engine.dispose()
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": False}
    assert "unreachable" in ready.json()["failed"]["database"]


def test_a_deeply_nested_element_of_a_bulk_json_array_is_a_file_problem_not_a_crash() -> None:
    body = b'[{"a": 1}, ' + b"[" * 100_000 + b"]" * 100_000 + b"]"
    with pytest.raises(FileProblem, match="nested"):
        list(open_bulk(BulkFormat.JSON, io.BytesIO(body)).rows())


def test_a_bulk_element_nested_past_the_limit_is_that_rows_problem() -> None:
    element = {"person": {"x": json.loads("[" * 40 + "]" * 40)}}
    rows = list(open_bulk(BulkFormat.JSON, io.BytesIO(json_bytes([element, record(sequence=1)]))).rows())
    assert rows[0].problem is not None
    assert "nested" in rows[0].problem
    assert rows[1].problem is None


def test_an_over_long_ndjson_line_is_its_rows_problem_and_the_next_line_is_read() -> None:
    body = b'{"a": "' + b"x" * (MAX_LINE + 10) + b'"}\n' + json.dumps(record(sequence=2)).encode() + b"\n"
    rows = list(open_bulk(BulkFormat.NDJSON, io.BytesIO(body)).rows())
    assert [r.number for r in rows] == [1, 2]
    assert rows[0].problem is not None
    assert "longer" in rows[0].problem
    assert rows[1].record["person"]["name"] == record(sequence=2)["person"]["name"]


def test_a_workbook_that_unpacks_to_a_bomb_is_refused_before_parsing() -> None:
    good = xlsx_bytes([record(sequence=3)])
    bomb = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith("sheet1.xml"):
                data = data.replace(b"</sheetData>", b"<!--" + b" " * 10_000_000 + b"--></sheetData>")
            target.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(FileProblem, match="zip bomb"):
        list(open_bulk(BulkFormat.XLSX, io.BytesIO(bomb.getvalue())).rows())
    assert len(list(open_bulk(BulkFormat.XLSX, io.BytesIO(good)).rows())) == 1


async def test_brackets_inside_strings_never_count_towards_the_depth(client: httpx.AsyncClient) -> None:
    # more brackets than the depth allows, all of them in a string: the closer look still lets it through
    quoted = "[" * (MAX_JSON_DEPTH + 10) + "{" * 5
    response = await client.post("/json", json={"value": {"a": [quoted]}})
    assert response.json() == {"got": {"a": [quoted]}}


@pytest.mark.parametrize(
    ("declared", "over"),
    [("65", True), (b"65", True), ("64", False), ("", False), ("abc", False), ("６５", False), ("6²", False)],
)
def test_only_a_content_length_in_ascii_digits_declares_a_size(declared: str | bytes, over: bool) -> None:
    assert declares_more_than(declared, 64) is over  # anything else is left to the counted stream


async def test_a_second_content_type_does_not_hide_a_json_body_from_the_checks(client: httpx.AsyncClient) -> None:
    # Starlette, and so FastAPI's parser, reads a repeated header's first value: the door must judge the same one
    headers = [("content-type", "application/json"), ("content-type", "text/plain")]
    response = await client.post("/json", content=nested(MAX_JSON_DEPTH + 8), headers=headers)
    assert response.status_code == 400, response.text
    assert "nest" in response.json()["title"]
