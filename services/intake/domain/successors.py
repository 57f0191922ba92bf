"""Whose records a retired reporting street's are: its successor's, for submitting and for reading. Pure.

Streets are merged and renumbered between editions of the national directory
(shared.directory.changes). A record may still name a retired reporting
street (a field app not yet updated, a list of the weeks before the change):
the street that succeeded it does that street's work now, so its key may
submit such records and read them back. The scope of the street as reported
still reads them too (they are its office's records from before the change).
A street split in several, or retired without a known successor, is answered
for by its own scope alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.auth import Principal
from shared.directory import DivisionChanges

STREET_DIGITS = 9


@dataclass(frozen=True, slots=True)
class StreetSuccessors:
    """Each retired street with one current successor, mapped to it (chains of changes followed)."""

    successor_of: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, changes: DivisionChanges | None) -> StreetSuccessors:
        if changes is None:
            return cls()
        resolved = {code: changes.resolve(code).successor for code in changes.changes if len(code) == STREET_DIGITS}
        return cls({code: successor for code, successor in resolved.items() if successor})

    def answering(self, street: str) -> str:
        """The street whose scope submits for `street`: itself, or its successor when it was retired."""
        return self.successor_of.get(street, street)

    def may_read(self, principal: Principal, street: str) -> bool:
        """Whether `principal` may read records reported under `street`: its scope covers that street, or the
        street that succeeded it."""
        return principal.can_access(street) or principal.can_access(self.answering(street))

    def taken_over(self, principal: Principal) -> list[str]:
        """The retired streets outside `principal`'s scope whose successor lies inside it, in code order: records
        reported under them are the principal's to read too."""
        return sorted(
            old for old, new in self.successor_of.items() if principal.can_access(new) and not principal.can_access(old)
        )
