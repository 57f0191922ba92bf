"""Reading a JSON request body safely: 415, 413 and 400 raised as problems, never a 500."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request

from shared.http.limits import LONG_NUMBER, declares_more_than
from shared.http.problems import ProblemError
from shared.logging import ID_NUMBER_PATTERN

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")


def _is_json(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower().endswith(("/json", "+json"))


async def json_body(request: Request, limit: int) -> Any:
    """The parsed body; a problem when it is not JSON, too large or malformed."""
    if not _is_json(request.headers.get("content-type", "")):
        raise ProblemError(415, "Unsupported Media Type", "Send the body as application/json.")
    if declares_more_than(request.headers.get("content-length", ""), limit):
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise ProblemError(400, "Malformed JSON", "The request body is not valid JSON.") from None
    except ValueError:  # valid JSON, but an integer longer than Python converts (sys.get_int_max_str_digits)
        raise ProblemError(400, "Malformed JSON", f"The request body {LONG_NUMBER}.") from None


def _too_large(limit: int) -> ProblemError:
    return ProblemError(413, "Content Too Large", f"The body may be at most {limit} bytes.")


def idempotency_key(request: Request) -> str | None:
    """The Idempotency-Key header (1-200 visible ASCII characters) or None; a 400 problem when malformed."""
    value = request.headers.get("idempotency-key")
    if value is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(value):
        raise ProblemError(400, "Bad Idempotency-Key", "Idempotency-Key must be 1-200 visible ASCII characters.")
    return value


def purpose(request: Request) -> str:
    """The X-Purpose header for the read audit: read as UTF-8, identity numbers masked, trimmed to 200
    printable characters."""
    # ASGI hands headers over as Latin-1: a purpose in Chinese, sent as UTF-8, was stored as mojibake
    value = request.headers.get("x-purpose", "").encode("latin-1").decode("utf-8", "replace")
    printable = "".join(char for char in value if char.isprintable())
    # free text, and a clerk may write whom the read is for: the audit keeps no identity number (masked
    # once the unprintable characters are gone, which could have split one)
    return ID_NUMBER_PATTERN.sub("[id-redacted]", printable)[:200]
