"""The weekly figures and item lists cut by community or by responsible worker. Pure.

Every item counted in a street's or district's week falls in exactly one
group (Register.group_of), so each figure's groups add up to the report's
figure: nothing is counted twice and nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from services.reporting.domain.figures import FIGURE_NAMES
from services.reporting.domain.responsibility import Cut, GroupKey, GroupKind, Register

RECORDS = "records"  # the count of the week's records, beside the figures
CountRow = tuple[str, str | None, int]  # (figure name or RECORDS, community or None, count)
ORDER = {
    GroupKind.COMMUNITY: 0,
    GroupKind.WORKER: 0,
    GroupKind.UNASSIGNED: 1,
    GroupKind.NO_COMMUNITY: 2,
    GroupKind.ELSEWHERE: 3,
}


def _ordered(keys: Iterable[GroupKey]) -> list[GroupKey]:
    return sorted(keys, key=lambda key: (ORDER[key[0]], key[1]))


def weekly_cut(register: Register, by: Cut, counts: Sequence[CountRow]) -> dict[str, Any]:
    """The week's figures per group: every standing group (zeros included), then whatever else counted."""
    seen = [community for _, community, _ in counts]
    totals: dict[GroupKey, dict[str, Any]] = {}

    def group(key: GroupKey) -> dict[str, Any]:
        return totals.setdefault(key, {"records": 0, "figures": dict.fromkeys(FIGURE_NAMES, 0)})

    for key in register.standing_groups(by, seen):
        group(key)
    for figure, community, count in counts:
        target = group(register.group_of(community, by))
        if figure == RECORDS:
            target["records"] += count
        else:
            target["figures"][figure] += count
    return {
        "by": by.value,
        "groups": [{**register.describe(key, seen), **totals[key]} for key in _ordered(totals)],
        "unassigned_communities": register.unassigned(seen),
    }


def item_groups(register: Register, by: Cut, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ids of one figure's item list per group (items carry their `community`); empty groups left out."""
    seen = [item.get("community") for item in items]
    ids: dict[GroupKey, list[str]] = {}
    for item in items:
        ids.setdefault(register.group_of(item.get("community"), by), []).append(item["id"])
    return [{**register.describe(key, seen), "count": len(ids[key]), "ids": ids[key]} for key in _ordered(ids)]
