"""Reading a JSON request body safely: 415, 413 and 400 as problems, never a 500."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from shared.http.problems import problem

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def is_json(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower().endswith(("/json", "+json"))


async def json_body(request: Request, limit: int) -> Any:
    """The parsed body, or the problem response to send instead."""
    if not is_json(request.headers.get("content-type", "")):
        return problem(415, "Unsupported Media Type", "Send the body as application/json.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return too_large(limit)
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return problem(400, "Malformed JSON", "The request body is not valid JSON.")


def too_large(limit: int) -> JSONResponse:
    return problem(413, "Content Too Large", f"The body may be at most {limit} bytes.")


def idempotency_key(request: Request) -> str | JSONResponse | None:
    """The Idempotency-Key header (1-200 visible ASCII characters), None, or a 400 problem."""
    value = request.headers.get("idempotency-key")
    if value is None:
        return None
    if not IDEMPOTENCY_KEY.match(value):
        return problem(400, "Bad Idempotency-Key", "Idempotency-Key must be 1-200 visible ASCII characters.")
    return value


def purpose(request: Request) -> str:
    """The X-Purpose header for the read audit, trimmed to 200 printable characters."""
    value = request.headers.get("x-purpose", "")
    return "".join(char for char in value if char.isprintable())[:200]
