"""The key store: keys are shown once and kept only as a SHA-256 hash.

A key is `pf_<key id>_<secret>`, with 256 bits of randomness in the secret,
so a plain SHA-256 is enough (a slow password hash protects low-entropy
secrets, which these are not) and keeps every request's check cheap.
Intake owns the store (it runs its migrations); every service reads it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import Field, SQLModel, col, select

from shared.auth.scopes import Principal, Role, Scope, check_role, default_role, parse_scope
from shared.db.engine import SingleStatements

MIGRATIONS = Path(__file__).parent / "migrations"


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    key_id: str = Field(primary_key=True, max_length=16)
    key_hash: str = Field(max_length=64)
    scope: str = Field(max_length=30)
    role: str = Field(default="", max_length=16)  # "" on keys made before roles: the scope's default
    label: str = Field(default="", max_length=200)
    created_at: datetime
    revoked_at: datetime | None = None


_KEYS = ApiKey.__table__.c  # type: ignore[attr-defined]  # SQLModel declares no __table__
_ACTIVE_KEY = sa_select(_KEYS.key_id, _KEYS.key_hash, _KEYS.scope, _KEYS.role, _KEYS.revoked_at).where(
    _KEYS.key_id == bindparam("key_id")
)


def _principal(row: Any) -> Principal:
    """The principal of an active key's row (`_ACTIVE_KEY`)."""
    return Principal(key_id=row.key_id, scope=parse_scope(row.scope), role=Role(row.role) if row.role else None)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._single = SingleStatements(self._sessions)
        self._reads = self._single.read_sessions()  # the list of keys: one statement

    async def create(self, scope: Scope, *, role: Role | None = None, label: str = "") -> tuple[str, str]:
        """(key id, the key itself). The key is not stored and cannot be shown again."""
        role = role or default_role(scope)
        check_role(scope, role)
        key_id = secrets.token_hex(6)
        key = f"pf_{key_id}_{secrets.token_urlsafe(32)}"
        row = ApiKey(
            key_id=key_id,
            key_hash=_hash(key),
            scope=str(scope),
            role=role.value,
            label=label,
            created_at=datetime.now(UTC),
        )
        async with self._sessions.begin() as session:
            session.add(row)
        return key_id, key

    async def revoke(self, key_id: str) -> bool:
        """True when an active key was revoked."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(ApiKey)
                .where(col(ApiKey.key_id) == key_id, col(ApiKey.revoked_at).is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        return bool(getattr(result, "rowcount", 0))

    async def authenticate(self, key: str) -> Principal | None:
        """The principal behind an active key, or None."""
        parts = key.split("_")
        if len(parts) < 3 or parts[0] != "pf":
            return None
        row = await self._active(parts[1])
        if row is None or not hmac.compare_digest(row.key_hash, _hash(key)):
            return None
        return _principal(row)

    async def principal_of(self, key_id: str) -> Principal | None:
        """The principal of an active key found by its id (for sessions that outlive the request), or None."""
        row = await self._active(key_id)
        return None if row is None else _principal(row)

    async def _active(self, key_id: str) -> Any:
        """The key's row unless revoked: one statement sent alone on PostgreSQL (every request of every service
        checks a key; in a session it was three round trips, BEGIN, the SELECT and the ROLLBACK)."""
        async with self._single.connect() as connection:
            row = (await connection.execute(_ACTIVE_KEY, {"key_id": key_id})).first()
        return row if row is not None and row.revoked_at is None else None

    async def list_keys(self) -> list[ApiKey]:
        async with self._reads() as session:
            return list((await session.execute(select(ApiKey).order_by(col(ApiKey.created_at)))).scalars())
