"""Limits at every door: how large a request body is, how deeply its JSON nests, whether its text can be stored.

`BodyLimits` is plain ASGI middleware, installed by `service_app` in all four
services. A body over the limit is a 413 problem (refused from the declared
Content-Length before a byte is read, or as soon as the stream passes it); a
JSON body nested deeper than MAX_JSON_DEPTH is a 400 before any parser sees it
(Python's recursive parsers fail with RecursionError, a 500, near 1,000
levels; a record needs four); a JSON body holding half of a character
(shared/http/surrogates.py) is a 422 naming its field. Routes that stream
large bodies themselves (intake's bulk import) are named in `larger` with
their own byte limit and check their elements' nesting and text as they read
them.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.digits import ascii_digits
from shared.http.problems import ProblemError
from shared.http.surrogates import lone_half_problem
from shared.json_depth import LONG_NUMBER as LONG_NUMBER  # the names this module's importers know
from shared.json_depth import MAX_JSON_DEPTH as MAX_JSON_DEPTH
from shared.json_depth import json_depth as json_depth
from shared.json_depth import value_depth as value_depth


def declares_more_than(content_length: str | bytes, limit: int) -> bool:
    """True when a Content-Length header (as sent: ASCII digits, else ignored) declares over `limit` bytes."""
    text = content_length.decode("latin-1") if isinstance(content_length, bytes) else content_length
    return ascii_digits(text) and int(text) > limit


class BodyTooLarge(ProblemError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "Content Too Large", f"The body may be at most {limit} bytes.")


class TooDeep(ProblemError):
    def __init__(self) -> None:
        super().__init__(400, "JSON nested too deeply", f"JSON may nest at most {MAX_JSON_DEPTH} levels.")


class BodyLimits:
    """ASGI middleware: 413 above `max_bytes` (or the path's entry in `larger`), 400 for over-deep JSON,
    422 for JSON holding half of a character."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, larger: Mapping[str, int] | None = None) -> None:
        self._app, self._max_bytes, self._larger = app, max_bytes, dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = content_type = b""
        for raw_name, value in scope.get("headers", ()):
            name = raw_name.lower()
            if name == b"content-length":
                declared = value
            elif name == b"content-type" and not content_type:
                # the first, as Starlette's headers (and so FastAPI's parser) read a repeated one: judged by a
                # later one, a JSON body the route parses passed unchecked
                content_type = value
        limit = self._larger.get(scope["path"], self._max_bytes)
        if declares_more_than(declared, limit):
            await BodyTooLarge(limit).response()(scope, receive, send)
            return
        if scope["path"] in self._larger or not _is_json(content_type):
            await self._app(scope, _counting(receive, limit), send)
            return
        try:
            body = await _read_all(receive, limit)
        except ProblemError as error:
            await error.response()(scope, receive, send)
            return
        # no string can hide more brackets than the body holds: a body with few needs no closer look
        if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and json_depth(body) > MAX_JSON_DEPTH:
            await TooDeep().response()(scope, receive, send)
            return
        if (broken := lone_half_problem(body)) is not None:
            await broken.response()(scope, receive, send)
            return
        await self._app(scope, _replaying(body, receive), send)


def _is_json(content_type: bytes) -> bool:
    return content_type.split(b";")[0].strip().lower().endswith((b"/json", b"+json"))


async def _read_all(receive: Receive, limit: int) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if len(body) > limit:
            raise BodyTooLarge(limit)
        if not message.get("more_body", False):
            break
    return bytes(body)


def _counting(receive: Receive, limit: int) -> Receive:
    """`receive` that raises a 413 problem once the body passes `limit` (the route's handler renders it)."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return counted


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as the server would

    return replay
