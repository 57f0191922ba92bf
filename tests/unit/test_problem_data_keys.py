"""Stored data the deployment's data keys do not open: a 503 that names the key id, never a 500, never the data."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from fastapi import FastAPI

from shared.http.problems import DATA_KEYS_PROBLEM, install_problem_handlers
from shared.logging import configure_logging
from shared.sealing import Keyring

NAME = "欧阳娜娜"
OURS = Keyring({"k2": bytes(32)}, current="k2")
THEIRS = Keyring({"k1": bytes(range(32))}, current="k1")
SAME_ID_OTHER_KEY = Keyring({"k2": bytes(range(32))}, current="k2")


def app_opening(token: str) -> FastAPI:
    """A route that opens a stored value with this deployment's keys, as the inbox or a review item does."""
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/stored")
    async def stored() -> dict[str, object]:
        return {"name": OURS.open(token, context="n1/person")}

    return app


async def answer(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/stored")


@pytest.mark.parametrize(
    ("token", "key_id"),
    [
        (THEIRS.seal(NAME, context="n1/person"), "k1"),  # a key id POPFLOW_DATA_KEYS no longer holds
        (SAME_ID_OTHER_KEY.seal(NAME, context="n1/person"), "k2"),  # another key under the id
        ("pf1.k2." + base64.urlsafe_b64encode(NAME.encode()).decode(), "k2"),  # tampered
        ("not sealed " + NAME, None),  # not a sealed value at all: no key id to name
    ],
    ids=["unknown key id", "other key, same id", "tampered", "malformed"],
)
async def test_a_stored_value_that_does_not_open_is_a_503_naming_the_key_id(
    token: str, key_id: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(service="test", fmt="json")
    response = await answer(app_opening(token))
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == DATA_KEYS_PROBLEM
    assert body["key_id"] == key_id
    assert "POPFLOW_DATA_KEYS" in body["detail"]
    [logged] = [line for line in lines if line["event"] == "stored data does not open with the deployment's data keys"]
    assert logged["level"] == "error"
    assert logged["data_key_id"] == key_id
    assert NAME not in json.dumps(body, ensure_ascii=False) + json.dumps(lines, ensure_ascii=False)
