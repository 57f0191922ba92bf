"""API keys for the whole system: one key store, scopes and roles, and the FastAPI dependency."""

from shared.auth.scopes import (
    Action,
    Principal,
    Role,
    Scope,
    ScopeKind,
    check_role,
    default_role,
    parse_role,
    parse_scope,
)

__all__ = [
    "Action",
    "Principal",
    "Role",
    "Scope",
    "ScopeKind",
    "check_role",
    "default_role",
    "parse_role",
    "parse_scope",
]
