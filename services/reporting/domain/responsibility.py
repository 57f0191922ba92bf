"""Areas with a responsible worker (分片包干): every community and key area has one. Pure.

A street registers its community workers (a staff id and a name) and says
who answers for each of its communities (12-digit codes, the first nine its
street's). The weekly figures and item lists are then cut by community or
by worker, so a street checks its communities every week and sees which have
nobody responsible. A worker's name is a person's name: it is sealed at rest,
shown only to keys of its street or district, and never written to a log or
an error message (it is left out of the repr below for that reason).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

STAFF_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
COMMUNITY = re.compile(r"[0-9]{12}")


class Cut(StrEnum):
    COMMUNITY = "community"
    WORKER = "worker"


class GroupKind(StrEnum):
    COMMUNITY = "community"  # one community of the scope (by=community)
    WORKER = "worker"  # one worker and the communities they answer for (by=worker)
    UNASSIGNED = "unassigned"  # communities of the scope with nobody responsible (by=worker)
    NO_COMMUNITY = "no_community"  # records that name no community, and rejections (no record kept)
    ELSEWHERE = "elsewhere"  # communities outside the scope: people reported here who live in another street


@dataclass(frozen=True, slots=True)
class Worker:
    street: str
    staff_id: str
    name: str = field(repr=False)  # a person's name: never in a log line or an error message

    @property
    def key(self) -> str:
        return f"{self.street}/{self.staff_id}"

    def shown(self) -> dict[str, str]:
        return {"street": self.street, "staff_id": self.staff_id, "name": self.name}


@dataclass(frozen=True, slots=True)
class Community:
    code: str
    name: str | None = None
    staff_id: str | None = None  # a worker of the community's own street; None: nobody responsible

    @property
    def street(self) -> str:
        return self.code[:9]


def community_in_street(code: str, street: str) -> bool:
    """A community code is twelve digits beginning with its street's nine."""
    return COMMUNITY.fullmatch(code) is not None and code.startswith(street)


GroupKey = tuple[GroupKind, str]


@dataclass(frozen=True)
class Register:
    """The communities and workers of one street or district (`scope`), as the store holds them."""

    scope: str
    communities: Mapping[str, Community]
    workers: Mapping[str, Worker]  # by Worker.key

    def worker_of(self, community: str) -> Worker | None:
        found = self.communities.get(community)
        if found is None or found.staff_id is None:
            return None
        return self.workers.get(f"{found.street}/{found.staff_id}")

    def group_of(self, community: str | None, by: Cut) -> GroupKey:
        """The one group an item of the scope's report falls in: its community's, or its worker's."""
        if not community:
            return GroupKind.NO_COMMUNITY, ""
        if not community.startswith(self.scope):
            return GroupKind.ELSEWHERE, ""
        if by is Cut.COMMUNITY:
            return GroupKind.COMMUNITY, community
        worker = self.worker_of(community)
        return (GroupKind.WORKER, worker.key) if worker else (GroupKind.UNASSIGNED, "")

    def unassigned(self, seen: Iterable[str | None] = ()) -> list[str]:
        """Communities of the scope, registered or seen in records, that nobody answers for."""
        inside = {code for code in seen if code and code.startswith(self.scope)} | set(self.communities)
        return sorted(code for code in inside if self.worker_of(code) is None)

    def communities_of(self, worker: Worker) -> list[str]:
        return sorted(code for code in self.communities if self.worker_of(code) == worker)

    def describe(self, key: GroupKey, seen: Iterable[str | None] = ()) -> dict[str, object]:
        """The group as a report shows it: who or what it is, without its counts."""
        kind, code = key
        if kind is GroupKind.COMMUNITY:
            community = self.communities.get(code) or Community(code)
            worker = self.worker_of(code)
            return {
                "kind": kind.value,
                "community": code,
                "name": community.name,
                "worker": worker.shown() if worker else None,
            }
        if kind is GroupKind.WORKER:
            worker = self.workers[code]
            return {"kind": kind.value, "worker": worker.shown(), "communities": self.communities_of(worker)}
        if kind is GroupKind.UNASSIGNED:
            return {"kind": kind.value, "communities": self.unassigned(seen)}
        return {"kind": kind.value}

    def standing_groups(self, by: Cut, seen: Iterable[str | None] = ()) -> list[GroupKey]:
        """Groups listed every week even with nothing in them, so a quiet community or worker shows as such."""
        if by is Cut.COMMUNITY:
            inside = {code for code in seen if code and code.startswith(self.scope)} | set(self.communities)
            return [(GroupKind.COMMUNITY, code) for code in sorted(inside)]
        workers = [(GroupKind.WORKER, key) for key in sorted(self.workers)]
        return workers + ([(GroupKind.UNASSIGNED, "")] if self.unassigned(seen) else [])
