"""FastAPI edge of the key store: `Authorization: Bearer KEY` → Principal, 401 otherwise."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request

from shared.auth.scopes import Principal
from shared.auth.store import KeyStore

Authenticate = Callable[[Request], Awaitable[Principal]]


def bearer_principal(store: KeyStore) -> Authenticate:
    """A dependency for routes that need a caller; use with `Depends(...)`."""

    async def authenticate(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise HTTPException(401, "Send your API key as 'Authorization: Bearer <key>'.")
        principal = await store.authenticate(key.strip())
        if principal is None:
            raise HTTPException(401, "This API key is not valid or has been revoked.")
        return principal

    return authenticate


def require_access(principal: Principal, code: str) -> None:
    """403 unless `code` (a street or district) lies inside the principal's scope."""
    if not principal.can_access(code):
        raise HTTPException(403, f"Your key's scope ({principal.scope}) does not cover {code}.")
