"""Half of a character (a lone half of a UTF-16 pair): found in parsed JSON, answered at the door as a 422.

No infrastructure: the pure walker, the bytes check, and the shared BodyLimits
middleware in front of a small FastAPI app with the shared problem handlers.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from services.notification.domain.paging import InvalidCursor, decode_cursor
from shared.http.limits import BodyLimits
from shared.http.problems import install_problem_handlers
from shared.http.surrogates import IN_NAME, lone_half_problem
from shared.surrogates import IN_TEXT, LoneHalf, has_lone_half, lone_halves

HALF = "\ud83d"  # the first half of 😀
NAME = "张三丰"


class Person(BaseModel):
    name: str
    tags: list[str] = []


def app_with_limits() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(BodyLimits, max_bytes=10_000, larger={"/bulk": 50_000})

    @app.post("/people")
    async def take(person: Person) -> dict[str, Any]:
        return {"name": person.name}

    @app.post("/bulk")
    async def stream(person: Person) -> dict[str, int]:
        return {"tags": len(person.tags)}

    return app


async def post(path: str, body: Any, *, encode: bool = True) -> httpx.Response:
    content = json.dumps(body).encode() if encode else body  # ASCII: the half written as \ud83d
    transport = httpx.ASGITransport(app=app_with_limits(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(path, content=content, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("text", "lone"),
    [
        ("张三", False),
        ("😀", False),
        ("", False),
        (HALF, True),
        ("a\udc00b", True),
        ("\ud83d\ude00", True),  # two code points in Python, unencodable; json.loads joins such a pair into 😀
    ],
)
def test_a_half_is_any_surrogate_code_point_left_in_a_str(text: str, lone: bool) -> None:
    assert has_lone_half(text) is lone


def test_every_place_is_found_in_document_order_and_names_by_their_object() -> None:
    value = {"a": "ok", "b": ["x", "y" + HALF], "c": {"d": HALF, HALF: "z"}, HALF: {"e": HALF}, "f": 1}
    assert lone_halves(value) == [
        LoneHalf((), in_name=True),
        LoneHalf(("b", 1), in_name=False),
        LoneHalf(("c",), in_name=True),
        LoneHalf(("c", "d"), in_name=False),
    ]
    assert lone_halves(json.loads(json.dumps({"name": "😀", "n": [1, None, True]}))) == []  # a pair is one character


def test_the_body_check_reads_escapes_and_raw_bytes_and_leaves_the_rest_to_the_route() -> None:
    escaped = json.dumps({"person": {"name": NAME + HALF}}).encode()
    raw_bytes = '{"name": "张\\u4e09'.encode() + b"\xed\xa0\xbd" + b'"}'  # a half as UTF-8 bytes (surrogatepass)
    utf16 = json.dumps({"name": NAME + HALF}, ensure_ascii=False).encode("utf-16", "surrogatepass")
    for body, pointer in ((escaped, "/person/name"), (raw_bytes, "/name"), (utf16, "/name")):
        problem = lone_half_problem(body)
        assert problem is not None, body
        assert problem.status == 422
        assert problem.extra["errors"] == [{"pointer": pointer, "detail": IN_TEXT}]

    assert lone_half_problem(json.dumps({"name": NAME, "emoji": "😀"}).encode()) is None  # \ud83d\ude00: a pair
    assert lone_half_problem(b'{"name": "\\\\ud83d"}') is None  # a backslash, then text
    assert lone_half_problem(b'{"name": "\\ud83d') is None  # malformed: the route's 400


async def test_the_door_answers_a_422_at_the_field_and_never_the_text() -> None:
    response = await post("/people", {"name": NAME + HALF, "tags": ["ok", HALF]})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["pointer"] for e in response.json()["errors"]] == ["/name", "/tags/1"]
    assert NAME not in response.text
    assert "type the text again" in response.text


async def test_a_field_name_with_a_half_names_its_object() -> None:
    response = await post("/people", {"name": NAME, HALF: 1})
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"pointer": "", "detail": IN_NAME}]


async def test_whole_characters_and_routes_that_read_their_own_bodies_pass() -> None:
    fine = await post("/people", {"name": NAME + "😀"})
    assert fine.status_code == 200, fine.text
    assert fine.json() == {"name": NAME + "😀"}
    # a route named in `larger` streams its body and checks its own elements (intake's bulk import)
    streamed = await post("/bulk", {"name": NAME, "tags": [HALF]})
    assert streamed.status_code == 200, streamed.text


def test_an_inbox_cursor_with_a_half_is_not_one_the_service_returned() -> None:
    forged = base64.urlsafe_b64encode(json.dumps(["2026-11-01T00:00:00+00:00", "n" + HALF]).encode()).decode()
    with pytest.raises(InvalidCursor):
        decode_cursor(forged)
