"""/healthz (the process is up) and /readyz (its broker and database answer, or why not)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

Check = Callable[[], Awaitable[bool]]


class NotReady(Exception):
    """Raised by a check to say why it fails; /readyz shows the reason (never a secret) under `reasons`."""


def health_router(checks: Mapping[str, Check], *, details: Callable[[], Mapping[str, Any]] = dict) -> APIRouter:
    """Routes for liveness and readiness; `checks` are named async probes.

    When not ready, the answer adds `details()` (e.g. which background tasks died)
    and, under `reasons`, what the checks that raised NotReady said.
    """
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        results: dict[str, bool] = {}
        reasons: dict[str, str] = {}
        for name, check in checks.items():
            try:
                results[name] = await _safe(check)
            except NotReady as why:
                results[name], reasons[name] = False, str(why)
        ready = all(results.values())
        body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": results}
        if reasons:
            body["reasons"] = reasons
        if not ready:
            body |= {key: value for key, value in details().items() if value}
        return JSONResponse(body, status_code=200 if ready else 503)

    return router


async def _safe(check: Check) -> bool:
    try:
        return await check()
    except NotReady:
        raise
    except Exception:
        return False
