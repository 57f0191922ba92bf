"""Every service's routes come ahead of the framework's own (docs, /metrics, health, catalogue), without
shadowing one of them; and FastAPI's native OpenTelemetry stays off (shared/runtime.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.routing import BaseRoute, Match

from services.cli import catalogue
from services.intake.bootstrap import create_app as intake_app
from services.notification.bootstrap import create_app as notification_app
from services.reporting.bootstrap import create_app as reporting_app
from services.routing.bootstrap import create_app as routing_app
from shared.runtime import NO_OPENTELEMETRY

FACTORIES: dict[str, Callable[[Any], FastAPI]] = {
    "intake": intake_app,
    "routing": routing_app,
    "notification": notification_app,
    "reporting": reporting_app,
}

# the framework's own paths, each with the path its route declares
FIXED = [
    ("GET", "/healthz", "/healthz"),
    ("GET", "/readyz", "/readyz"),
    ("GET", "/metrics", "/metrics"),
    ("GET", "/docs", "/docs"),
    ("GET", "/redoc", "/redoc"),
    ("GET", "/openapi.json", "/openapi.json"),
    ("GET", "/asyncapi.json", "/asyncapi.json"),
    ("GET", "/catalogue/record.schema.json", "/catalogue/{name}"),
    ("GET", "/docs-assets/swagger-ui.css", "/docs-assets/{path}"),
]


@pytest.fixture(scope="module", params=sorted(FACTORIES))
def app(request: pytest.FixtureRequest) -> FastAPI:
    service = request.param
    return FACTORIES[service](catalogue.test_settings(service))


def first_match(app: FastAPI, method: str, path: str) -> tuple[int, BaseRoute]:
    """The route FastAPI's router would take for the request, and its place (the first full match, in order)."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}
    for place, route in enumerate(app.router.routes):
        match, _ = route.matches({**scope, "app": app})
        if match is Match.FULL:
            return place, route
    raise AssertionError(f"no route takes {method} {path}")


def declared(route: BaseRoute) -> set[str]:
    """The paths a top-level route declares: its own, or those of the router it includes."""
    inner = getattr(route, "original_router", None)
    routes = inner.routes if inner is not None else [route]
    return {str(getattr(r, "path_format", None) or getattr(r, "path", "")) for r in routes}


@pytest.mark.parametrize(("method", "path", "declares"), FIXED)
def test_no_service_route_shadows_the_frameworks_own(app: FastAPI, method: str, path: str, declares: str) -> None:
    _, route = first_match(app, method, path)
    assert declares in declared(route)


def test_the_load_bearing_post_is_taken_by_the_first_route() -> None:
    app = FACTORIES["intake"](catalogue.test_settings("intake"))
    place, route = first_match(app, "POST", "/v1/records")
    assert place == 0
    assert "/v1/records" in declared(route)
    # and the framework's own come after every route of the service
    health, _ = first_match(app, "GET", "/healthz")
    docs, _ = first_match(app, "GET", "/docs")
    bulk, _ = first_match(app, "POST", "/v1/records/bulk")
    assert bulk < health
    assert bulk < docs


def test_fastapis_native_opentelemetry_is_off(app: FastAPI) -> None:
    # no public reading of it: FastAPI keeps the configuration it was given
    config = app._telemetry
    assert {key: config[key] for key in NO_OPENTELEMETRY} == NO_OPENTELEMETRY  # type: ignore[literal-required]
    assert not any(NO_OPENTELEMETRY.values())
