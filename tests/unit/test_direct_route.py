"""DirectRoute: the endpoint is called with the request alone, and FastAPI's edges stay around it."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.testclient import TestClient
from starlette.responses import JSONResponse, Response

from shared.http.direct_route import DirectRoute, Endpoint
from shared.http.problems import ProblemError, install_problem_handlers

BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}}


async def echo(request: Request) -> Response:
    if request.headers.get("authorization") != "Bearer good":
        raise ProblemError(401, "Unauthorized", "Send your API key.")
    return JSONResponse({"got": (await request.json())["n"]}, status_code=202)


def app_with(router: APIRouter) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    return app


def test_the_endpoint_answers_and_its_problems_are_problem_documents() -> None:
    router = APIRouter(prefix="/v1")
    router.add_api_route("/echo", echo, methods=["POST"], status_code=202, route_class_override=DirectRoute)
    client = TestClient(app_with(router))

    answer = client.post("/v1/echo", json={"n": 7}, headers={"Authorization": "Bearer good"})
    refused = client.post("/v1/echo", json={"n": 7})

    assert (answer.status_code, answer.json()) == (202, {"got": 7})
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == "Send your API key."
    assert client.get("/v1/echo").status_code == 405


def test_the_openapi_operation_keeps_the_declared_body() -> None:
    router = APIRouter(prefix="/v1")
    router.add_api_route(
        "/echo", echo, methods=["POST"], status_code=202, openapi_extra=BODY, route_class_override=DirectRoute
    )
    operation = TestClient(app_with(router)).get("/openapi.json").json()["paths"]["/v1/echo"]["post"]

    assert operation["requestBody"] == BODY["requestBody"]
    assert "202" in operation["responses"]


def never_called() -> None:
    raise AssertionError("a DirectRoute never runs dependencies")


async def with_parameter(request: Request, n: int) -> Response:
    return Response()


@pytest.mark.parametrize(
    ("router", "endpoint"),
    [(APIRouter(dependencies=[Depends(never_called)]), echo), (APIRouter(), with_parameter)],
    ids=["a router's dependency", "a parameter"],
)
def test_a_route_whose_dependencies_would_be_skipped_is_refused(router: APIRouter, endpoint: Endpoint) -> None:
    with pytest.raises(TypeError, match="takes the Request alone"):
        router.add_api_route("/echo", endpoint, methods=["POST"], route_class_override=DirectRoute)


def test_a_dependency_given_where_its_router_is_included_is_refused_too() -> None:
    router = APIRouter(prefix="/v1")
    router.add_api_route("/echo", echo, methods=["POST"], route_class_override=DirectRoute)

    app = FastAPI()
    app.include_router(router, dependencies=[Depends(never_called)])  # FastAPI builds the inclusion's handler later

    with pytest.raises(TypeError, match="takes the Request alone"):  # so the first request fails: closed, not open
        TestClient(app).post("/v1/echo", json={"n": 1}, headers={"Authorization": "Bearer good"})
