"""A problem's field errors point at the field with an RFC 6901 JSON pointer, whatever its name holds."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, model_validator

from shared.http.problems import FieldError, ValidationProblem, install_problem_handlers, json_pointer


class Counts(BaseModel):
    counts: dict[str, int]

    @model_validator(mode="after")
    def _some(self) -> Counts:
        if not self.counts:
            raise ValueError("give at least one count")
        return self


@pytest.mark.parametrize(
    ("location", "pointer"),
    [
        (("person", "id_number"), "/person/id_number"),
        (("rows", 3, "name"), "/rows/3/name"),
        (("a/b", "m~n", "~1"), "/a~1b/m~0n/~01"),  # '~' first, so '/' written '~1' is not read back as '/'
        ((), ""),  # the whole document
        (("",), "/"),  # a member named ""
    ],
)
def test_each_step_is_escaped(location: tuple[str | int, ...], pointer: str) -> None:
    assert json_pointer(location) == pointer


async def test_a_problem_names_a_field_whose_key_holds_a_slash_or_a_tilde() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/counts")
    async def take(body: Counts) -> int:
        return len(body.counts)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        slashed = await client.post("/counts", json={"counts": {"1/2": "many", "~": 1}})
        empty = await client.post("/counts", json={"counts": {}})
    assert slashed.status_code == 422, slashed.text
    assert [e["pointer"] for e in slashed.json()["errors"]] == ["/counts/1~12"]
    assert [e["pointer"] for e in empty.json()["errors"]] == [""]  # the body as a whole


async def test_a_request_that_is_no_record_is_not_called_a_record() -> None:
    """The shared 422 names the request: a report's missing week was "The record is not valid". Intake's record
    routes say "record" themselves (tests/e2e/test_intake.py)."""
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/reports")
    async def report(week: str) -> str:
        return week

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        missing = await client.get("/reports")
    assert missing.status_code == 422
    assert missing.json()["title"] == "The request is not valid"
    assert missing.json()["errors"] == [{"pointer": "/week", "detail": "is required"}]


@pytest.mark.parametrize(
    ("wrong", "detail"),
    [
        (1, "1 field is wrong; correct it and submit again."),
        (2, "2 fields are wrong; correct them and submit again."),
    ],
)
def test_a_validation_problem_counts_its_fields_in_words_that_agree(wrong: int, detail: str) -> None:
    errors = [FieldError.at(("field", index), "is required") for index in range(wrong)]
    assert ValidationProblem(errors).detail == detail
