"""Real webhook receivers on 127.0.0.1 for tests: a Starlette app under uvicorn, in the test's loop.

Each receiver checks the signature of what it gets with the `standardwebhooks`
library, as an integrator's receiver would, remembers it, and answers
as its `behaviour` says: "ok" (200), "fail" (503), "hang" (no answer until
`release()`), or ok after `fail_first` failures per notice.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.system import free_port
from tests.support.waiting import eventually


@dataclass
class Received:
    notice_id: str
    body: dict[str, Any]
    verified: bool
    answered: int
    arrived_at: float  # time.time() on arrival


@dataclass
class Receiver:
    secret: str
    behaviour: str = "ok"
    fail_first: int = 0
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def delivered(self) -> dict[str, Received]:
        """Notices answered 2xx, by id."""
        return {r.notice_id: r for r in self.received if 200 <= r.answered < 300}

    def release(self) -> None:
        self._release.set()

    async def _hook(self, request: Request) -> Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: Request) -> Response:
        body = await request.body()
        headers = request.headers
        notice_id = headers.get("webhook-id", "")
        try:
            notice, verified = Webhook(self.secret).verify(body, dict(headers)), True
        except WebhookVerificationError:
            notice, verified = None, False
        earlier = sum(1 for r in self.received if r.notice_id == notice_id)
        if self.behaviour == "hang":
            await self._release.wait()
        status = 503 if self.behaviour == "fail" or earlier < self.fail_first else 200
        if not verified:
            status = 401
        self.received.append(Received(notice_id, notice or {}, verified, status, time.time()))
        return Response(status_code=status)

    async def __aenter__(self) -> Receiver:
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        server = self._server

        async def started() -> bool:
            return server.started

        await eventually(started, within=10)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.release()
        assert self._server is not None
        assert self._task is not None
        self._server.should_exit = True
        await self._task
