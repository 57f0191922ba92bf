"""Who sees which notices and manages which webhooks.

A street key sees its own street, a district key the bureau and every street
of the district, admin everything (shared.auth.scopes decides "covers").
Anything outside a caller's scope is answered as if it did not exist (404),
so a street cannot probe for other streets' notices.
"""

from __future__ import annotations

from shared.auth.scopes import Principal, ScopeKind


def acting_code(principal: Principal) -> str:
    """The office behind a key, as recorded in acknowledgements and answers."""
    return principal.scope.code or "admin"


def may_see(principal: Principal, recipient_code: str) -> bool:
    """Reading a notice or inbox, acknowledging, answering, managing a webhook."""
    return principal.can_access(recipient_code)


def may_list_failed_deliveries(principal: Principal) -> bool:
    """The failed-delivery list is the bureau's follow-up tool."""
    return principal.is_bureau


def recipient_prefix(principal: Principal) -> str:
    """Recipient codes a principal sees all start with this ('' for admin)."""
    if principal.scope.kind is ScopeKind.ADMIN:
        return ""
    return principal.scope.code
