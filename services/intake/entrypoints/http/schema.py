"""The case record's JSON Schema inside intake's OpenAPI document.

The routes read their bodies themselves (to answer 413/415/400 as problems),
so FastAPI does not see the model; its schema and nested parts are put into
`components/schemas` here and referenced from the request bodies.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from shared.events import CaseRecord

RECORD_REF = {"$ref": "#/components/schemas/CaseRecord"}


def record_components() -> dict[str, Any]:
    schema = CaseRecord.model_json_schema(ref_template="#/components/schemas/{model}")
    parts: dict[str, Any] = schema.pop("$defs", {})
    return {**parts, "CaseRecord": schema}


def install_record_schema(app: FastAPI) -> None:
    """Generate the OpenAPI document once, with the record's components in it."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            document.setdefault("components", {}).setdefault("schemas", {}).update(record_components())
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
