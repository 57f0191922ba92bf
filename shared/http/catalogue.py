"""GET /asyncapi.json and GET /catalogue/{name}: the event catalogue, served by every service.

The same documents `make docs` commits under docs/catalogue/, built from the
contracts this process runs with; no key needed (they hold no data).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter

from shared.catalogue.asyncapi import asyncapi_document
from shared.catalogue.documents import SHARED_SCHEMAS, json_schema_document
from shared.http.problems import ProblemError


@cache
def _asyncapi() -> dict[str, Any]:
    return asyncapi_document()


def catalogue_router() -> APIRouter:
    router = APIRouter(tags=["catalogue"])

    @router.get("/asyncapi.json", summary="The AsyncAPI 3.0 document of every topic")
    async def asyncapi() -> dict[str, Any]:
        return _asyncapi()

    @router.get("/catalogue/{name}", summary="JSON Schema of a body that crosses the system's edge")
    async def schema(name: str) -> dict[str, Any]:
        model = SHARED_SCHEMAS.get(name)
        if model is None:
            raise ProblemError(404, "Not found", f"no such document; there are: {', '.join(SHARED_SCHEMAS)}")
        return json_schema_document(model, name)

    return router
