"""API keys for the whole system: one key store, scopes, and the FastAPI dependency."""

from shared.auth.scopes import Principal, Scope, ScopeKind, parse_scope

__all__ = ["Principal", "Scope", "ScopeKind", "parse_scope"]
