"""/healthz (the process is up) and /readyz (its broker and database answer, and why not).

A check answers True, or False / raises when not ready; /readyz then names
each failed check with the reason (the error's kind, never its message, which
may quote a URL with a password), so an operator sees which store is down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

Check = Callable[[], Awaitable[bool]]
CHECK_TIMEOUT_S = 3.0


class NotReady(Exception):
    """Raised by a check with a reason fit to show (no secrets, no personal data)."""


def health_router(
    checks: Mapping[str, Check],
    *,
    service: str = "",
    details: Callable[[], Mapping[str, Any]] = dict,
    status: Callable[[], Mapping[str, Any]] = dict,
) -> APIRouter:
    """Routes for liveness and readiness; `checks` are named async probes.

    When not ready, the answer adds `details()` (e.g. which background tasks died).
    It always adds `status()`: what an operator should see without the service
    being unready (e.g. a scheduled export that failed and is retried).
    Both answers name the `service`, so a probe aimed at the wrong port says so.
    """
    named = {"service": service} if service else {}
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", **named}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        reasons = {name: await _failure(check) for name, check in checks.items()}
        failed = {name: reason for name, reason in reasons.items() if reason is not None}
        body: dict[str, Any] = {
            **named,
            "status": "not ready" if failed else "ready",
            "checks": {name: name not in failed for name in checks},
        }
        if failed:
            body["failed"] = failed
            body |= {key: value for key, value in details().items() if value}
        body |= status()
        return JSONResponse(body, status_code=503 if failed else 200)

    return router


async def _failure(check: Check) -> str | None:
    """None when the check passes, else why it did not."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            ok = await check()
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_S:g} s"
    except NotReady as error:
        return str(error)
    except Exception as error:
        return f"unreachable ({type(error).__name__})"
    return None if ok else "not ready"
