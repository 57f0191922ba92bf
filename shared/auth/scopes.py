"""Who may do what: a key's scope over division codes. Pure.

- street:CODE    a street office: its own street only
- district:CODE  a district bureau: the bureau itself and every street of the district
- admin          everything
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

SCOPE_PATTERN = re.compile(r"^(?:(street):(\d{9})|(district):(\d{6})|(admin))$")


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
    match = SCOPE_PATTERN.match(text.strip())
    if match is None:
        raise ValueError("a scope is street:<9 digits>, district:<6 digits> or admin")
    if match[1]:
        return Scope(ScopeKind.STREET, match[2])
    if match[3]:
        return Scope(ScopeKind.DISTRICT, match[4])
    return Scope(ScopeKind.ADMIN)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller behind a valid key."""

    key_id: str
    scope: Scope

    def can_access(self, code: str) -> bool:
        return self.scope.covers(code)

    @property
    def is_admin(self) -> bool:
        return self.scope.kind is ScopeKind.ADMIN

    @property
    def is_bureau(self) -> bool:
        return self.scope.kind in (ScopeKind.DISTRICT, ScopeKind.ADMIN)
