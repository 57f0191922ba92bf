"""Who sees what of routing: a case concerns the streets that reported and received it. Pure.

A street office reads the cases it reported, the cases of people living in
its street, and any case it was sent a notice about; a bureau reads those of
its streets and its own; admin reads everything. The review queue is the
bureau's: each bureau sees the records its streets reported.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.auth import Action, Principal, ScopeKind


def concerned(*, reporting_street: str, residence_street: str, recipients: Iterable[str]) -> frozenset[str]:
    """The codes a case belongs to: its reporting and residence streets and every recipient of its notices."""
    return frozenset({reporting_street, residence_street, *recipients})


def may_read(principal: Principal, codes: Iterable[str]) -> bool:
    return any(principal.may(Action.READ, code) for code in codes)


def review_prefix(principal: Principal) -> str:
    """Reporting streets of the review items a caller sees all start with this ('' for admin)."""
    return "" if principal.scope.kind is ScopeKind.ADMIN else principal.scope.code
