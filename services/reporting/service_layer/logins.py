"""Dashboard logins: a key is exchanged once for a short-lived session; the browser never keeps the key.

A session is a random id (the cookie), stored only as its hash, with a CSRF
token for the dashboard's forms. It ends at its expiry, at logout, or as
soon as its key is revoked (the key is looked up on every use).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.reporting.adapters.session_store import SessionStore
from shared.auth.scopes import Principal
from shared.auth.store import KeyStore
from shared.clock import Clock


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    csrf_token: str
    expires_at: datetime
    token: str = ""  # the cookie's value, known only when the session is opened


class Logins:
    def __init__(self, keys: KeyStore, store: SessionStore, clock: Clock, lifetime: timedelta) -> None:
        self._keys, self._store, self._clock, self._lifetime = keys, store, clock, lifetime

    async def log_in(self, key: str) -> Session | None:
        """A new session for a valid key, or None."""
        principal = await self._keys.authenticate(key) if key else None
        if principal is None:
            return None
        now = self._now()
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires_at = now + self._lifetime
        await self._store.add(token, key_id=principal.key_id, csrf_token=csrf, now=now, expires_at=expires_at)
        return Session(principal, csrf, expires_at, token)

    async def session_of(self, token: str) -> Session | None:
        """The live session behind a cookie whose key is still active, or None."""
        row = await self._store.live(token, now=self._now()) if token else None
        principal = await self._keys.principal_of(row.key_id) if row else None
        if row is None or principal is None:
            return None
        return Session(principal, row.csrf_token, row.expires_at)

    async def log_out(self, token: str, csrf_token: str) -> bool:
        """Revoke the session; False (nothing revoked) when the form's CSRF token does not match it."""
        session = await self.session_of(token)
        if session is None or not tokens_match(session.csrf_token, csrf_token):
            return False
        await self._store.revoke(token, now=self._now())
        return True

    def _now(self) -> datetime:
        return self._clock.now().astimezone(UTC)


def tokens_match(expected: str, given: str) -> bool:
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())
