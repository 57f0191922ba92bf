"""Who may do what: a key's scope over division codes and its role. Pure.

Scope, where a key may act:
- street:CODE    its own street only
- district:CODE  the bureau itself and every street of the district
- admin          everything

Role, what a key may do there (docs/security.md has the table):
- submitter  a school, kindergarten, police station, enterprise system or field app:
             submits records for its scope, reads nothing back
- office     a street office: submits, reads its street's records, notices and reports, answers notices
- bureau     a district bureau: all of the above for its streets, plus the review queue,
             spot checks, campaigns and the dashboard
- admin      everything, and the keys and the audit log
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

SCOPE_PATTERN = re.compile(r"(?:(street):([0-9]{9})|(district):([0-9]{6})|(admin))")


class Role(StrEnum):
    SUBMITTER = "submitter"
    OFFICE = "office"
    BUREAU = "bureau"
    ADMIN = "admin"


class Action(StrEnum):
    SUBMIT = "submit"  # post records
    READ = "read"  # records, cases, notices, inboxes, reports, exports
    ANSWER = "answer"  # acknowledge and answer notices, manage webhooks, submit the weekly report
    SUPERVISE = "supervise"  # review queue, spot checks, campaigns, dashboard, deliveries of the district
    ADMINISTER = "administer"  # keys, audit log, dead letters, set-aside outbox rows


ALLOWED: dict[Role, frozenset[Action]] = {
    Role.SUBMITTER: frozenset({Action.SUBMIT}),
    Role.OFFICE: frozenset({Action.SUBMIT, Action.READ, Action.ANSWER}),
    Role.BUREAU: frozenset({Action.SUBMIT, Action.READ, Action.ANSWER, Action.SUPERVISE}),
    Role.ADMIN: frozenset(Action),
}


class ScopeKind(StrEnum):
    STREET = "street"
    DISTRICT = "district"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind
    code: str = ""

    def __str__(self) -> str:
        return self.kind.value if self.kind is ScopeKind.ADMIN else f"{self.kind.value}:{self.code}"

    def covers(self, code: str) -> bool:
        """True when a street or district `code` lies inside this scope."""
        if self.kind is ScopeKind.ADMIN:
            return True
        if self.kind is ScopeKind.DISTRICT:
            return code.startswith(self.code)
        return code == self.code


def parse_scope(text: str) -> Scope:
    """`street:440111005`, `district:440111` or `admin`; ValueError otherwise."""
    match = SCOPE_PATTERN.fullmatch(text.strip())
    if match is None:
        raise ValueError("a scope is street:<9 digits>, district:<6 digits> or admin")
    if match[1]:
        return Scope(ScopeKind.STREET, match[2])
    if match[3]:
        return Scope(ScopeKind.DISTRICT, match[4])
    return Scope(ScopeKind.ADMIN)


def default_role(scope: Scope) -> Role:
    """The role a key of `scope` had before roles existed: street office, bureau, admin."""
    return {ScopeKind.STREET: Role.OFFICE, ScopeKind.DISTRICT: Role.BUREAU, ScopeKind.ADMIN: Role.ADMIN}[scope.kind]


def check_role(scope: Scope, role: Role) -> None:
    """ValueError unless `role` fits `scope` (an office is a street, a bureau a district, admin is admin)."""
    fits = {
        Role.SUBMITTER: {ScopeKind.STREET, ScopeKind.DISTRICT},
        Role.OFFICE: {ScopeKind.STREET},
        Role.BUREAU: {ScopeKind.DISTRICT},
        Role.ADMIN: {ScopeKind.ADMIN},
    }[role]
    if scope.kind not in fits:
        raise ValueError(f"a {role.value} key needs a scope of " + " or ".join(sorted(k.value for k in fits)))


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip())
    except ValueError:
        raise ValueError("a role is submitter, office, bureau or admin") from None


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller behind a valid key."""

    key_id: str
    scope: Scope
    role: Role | None = None  # None: the scope's default role

    @property
    def effective_role(self) -> Role:
        return self.role or default_role(self.scope)

    def may(self, action: Action, code: str | None = None) -> bool:
        """True when the role allows `action` and `code` (if given) lies inside the scope."""
        if action not in ALLOWED[self.effective_role]:
            return False
        return code is None or self.scope.covers(code)

    def can_access(self, code: str) -> bool:
        """Read access to `code` (kept for callers that predate roles)."""
        return self.may(Action.READ, code)

    @property
    def is_admin(self) -> bool:
        return self.effective_role is Role.ADMIN

    @property
    def is_bureau(self) -> bool:
        return self.effective_role in (Role.BUREAU, Role.ADMIN)
