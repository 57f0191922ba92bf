"""One structured access line per HTTP request, under a request id that is the correlation id.

The id is the caller's `X-Request-ID` when it sends a sensible one (so a
trace spans the caller's logs and ours), a new one otherwise; it is echoed
in the answer and bound to structlog's context as `correlation_id` while the
request is handled, so every line the request causes carries it. The access
line names the route template, never the raw path, whose ids could be
personal data.
"""

from __future__ import annotations

import logging
import os
import re
import time

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.metrics import observe_request, route_of

REQUEST_ID_HEADER = "X-Request-ID"
ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})  # polled: logged at debug level only

log = structlog.get_logger("popflow.access")


def request_id_of(scope: Scope) -> str:
    """The caller's X-Request-ID if it is a plain token of at most 128 characters, else 128 new random bits
    in hex (as a uuid4's hex, without building the UUID: 0.4 µs against 1.7 on every request)."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given: str = value.decode("latin-1")
            if ACCEPTED_ID.fullmatch(given):
                return given
    return os.urandom(16).hex()


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, started, status = request_id_of(scope), time.perf_counter(), 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        # bound and reset by token: structlog's bound_contextvars reads every context variable to restore them
        tokens = structlog.contextvars.bind_contextvars(correlation_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            try:
                seconds = time.perf_counter() - started
                observe_request(scope, status, seconds)  # one middleware for the line and the metrics
                route = route_of(scope)
                level = logging.DEBUG if route in QUIET_ROUTES else logging.INFO
                if log.is_enabled_for(level):  # a line below the level ran the processors before it was dropped
                    log.log(
                        level,
                        "request",
                        method=scope["method"],
                        route=route,
                        status=status,
                        duration_ms=round(seconds * 1000, 2),
                        request_id=request_id,
                    )
            finally:
                structlog.contextvars.reset_contextvars(**tokens)  # as the `with` did, whatever the line does
