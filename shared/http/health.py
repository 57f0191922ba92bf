"""/healthz (the process is up) and /readyz (its broker and database answer)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

Check = Callable[[], Awaitable[bool]]


def health_router(
    checks: Mapping[str, Check],
    *,
    details: Callable[[], Mapping[str, Any]] = dict,
    status: Callable[[], Mapping[str, Any]] = dict,
) -> APIRouter:
    """Routes for liveness and readiness; `checks` are named async probes.

    When not ready, the answer adds `details()` (e.g. which background tasks died).
    It always adds `status()`: what an operator should see without the service
    being unready (e.g. a scheduled export that failed and is retried).
    """
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        results = {name: await _safe(check) for name, check in checks.items()}
        ready = all(results.values())
        body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": results}
        if not ready:
            body |= {key: value for key, value in details().items() if value}
        body |= status()
        return JSONResponse(body, status_code=200 if ready else 503)

    return router


async def _safe(check: Check) -> bool:
    try:
        return await check()
    except Exception:
        return False
