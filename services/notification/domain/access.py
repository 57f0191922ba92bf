"""Who may do what with notices and webhooks: a key's role (the action) and its scope (the code).

A street office reads its street's inbox and answers its notices; a bureau
does the same for the bureau itself and every street of the district and
follows up failed pushes; admin everything (shared.auth.scopes holds the
role table). A submitter key reads nothing here. Anything outside a
caller's scope is answered as if it did not exist (404), so a street cannot
probe for other streets' notices; a role that may not act at all is a 403.
"""

from __future__ import annotations

from shared.auth.scopes import Action, Principal, ScopeKind


def acting_code(principal: Principal) -> str:
    """The office behind a key, as recorded in acknowledgements and answers."""
    return principal.scope.code or "admin"


def may_see(principal: Principal, recipient_code: str, action: Action = Action.READ) -> bool:
    """`action` on a notice or inbox (READ), or acknowledging, answering, managing a webhook (ANSWER)."""
    return principal.may(action, recipient_code)


def recipient_prefix(principal: Principal) -> str:
    """Recipient codes a principal sees all start with this ('' for admin)."""
    if principal.scope.kind is ScopeKind.ADMIN:
        return ""
    return principal.scope.code
