"""FastAPI edge of the key store: `Authorization: Bearer KEY` → Principal, 401 otherwise."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from shared.auth.scopes import Action, Principal
from shared.auth.store import KeyStore
from shared.http.problems import ProblemError

Authenticate = Callable[[Request], Awaitable[Principal]]


def bearer_principal(store: KeyStore) -> Authenticate:
    """A dependency for routes that need a caller; use with `Depends(...)`."""

    async def authenticate(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise ProblemError(401, "Unauthorized", "Send your API key as 'Authorization: Bearer <key>'.")
        principal = await store.authenticate(key.strip())
        if principal is None:
            raise ProblemError(401, "Unauthorized", "This API key is not valid or has been revoked.")
        return principal

    return authenticate


def require_access(principal: Principal, code: str) -> None:
    """403 unless the principal may read `code` (a street or district)."""
    require(principal, Action.READ, code)


def require(principal: Principal, action: Action, code: str | None = None) -> None:
    """403 unless the principal's role allows `action` and its scope covers `code`."""
    if principal.may(action):
        if code is None or principal.may(action, code):
            return
        raise ProblemError(403, "Forbidden", f"Your key's scope ({principal.scope}) does not cover {code}.")
    raise ProblemError(
        403, "Forbidden", f"A {principal.effective_role.value} key may not {action.value} here; ask your bureau."
    )
