"""Every answer of every service tells browsers not to frame it, sniff it or pass its address on
(shared/http/headers.py): the API docs pages and their assets, problem documents, JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.cli import catalogue
from services.intake.bootstrap import create_app as intake_app
from services.notification.bootstrap import create_app as notification_app
from services.reporting.bootstrap import create_app as reporting_app
from services.routing.bootstrap import create_app as routing_app

FACTORIES: dict[str, Callable[[Any], FastAPI]] = {
    "intake": intake_app,
    "routing": routing_app,
    "notification": notification_app,
    "reporting": reporting_app,
}
PAGES = ["/docs", "/redoc", "/docs/oauth2-redirect", "/docs-assets/swagger-ui.css", "/openapi.json", "/no/such/page"]


@pytest.fixture(scope="module", params=sorted(FACTORIES))
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    app = FACTORIES[request.param](catalogue.test_settings(request.param))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        yield client  # no lifespan: none of these pages needs the database or the broker


@pytest.mark.parametrize("path", PAGES)
async def test_no_answer_can_be_framed_or_sniffed(client: httpx.AsyncClient, path: str) -> None:
    answer = await client.get(path)
    assert answer.status_code in (200, 404)
    assert answer.headers.get("x-content-type-options") == "nosniff"
    assert answer.headers.get("x-frame-options") == "DENY"
    assert "frame-ancestors 'none'" in answer.headers.get("content-security-policy", "")
    assert answer.headers.get("referrer-policy") == "no-referrer"
