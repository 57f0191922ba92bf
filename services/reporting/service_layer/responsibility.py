"""Responsible workers (分片包干): a street's register of workers, who answers for each community.

A street office keeps its own register; its bureau may keep it for any street
of the district (the HTTP edge checks who calls). Nothing here logs, and no
refusal names a worker: Invalid messages say what is wrong, never the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.reporting.adapters.responsibility_store import ResponsibilityStore
from services.reporting.domain.responsibility import Community, Register, Worker, community_in_street
from services.reporting.service_layer.errors import Invalid
from services.reporting.service_layer.reports import ReportService
from shared.directory import DivisionLevel


@dataclass(frozen=True, slots=True)
class CommunityEntry:
    """One line of a street's community register: the community, and its worker (by staff id)."""

    code: str
    name: str | None = None
    staff_id: str | None = None
    worker_name: str | None = None  # registers (or renames) the worker on the way, as a sheet does


class Responsibilities:
    def __init__(self, reports: ReportService, store: ResponsibilityStore) -> None:
        self._reports = reports
        self.store = store

    def require_street(self, street: str) -> None:
        if not self._reports.directory.exists(street, DivisionLevel.STREET):
            raise Invalid.at("street", "is not a street of the division directory")

    async def register_workers(self, street: str, named: list[tuple[str, str]]) -> list[str]:
        """Register (or rename) workers of a street: (staff id, name) pairs; their staff ids back."""
        self.require_street(street)
        await self.store.save_workers([Worker(street, staff_id, name) for staff_id, name in named], self._now())
        return [staff_id for staff_id, _ in named]

    async def assign_communities(
        self, street: str, entries: list[CommunityEntry], *, at: str, numbers: Sequence[int] | None = None
    ) -> list[str]:
        """Register a street's communities with their workers; Invalid lists every wrong line, as
        `at`/<number>/<field> (numbers: the lines' own, e.g. a sheet's; by default their positions)."""
        self.require_street(street)
        known = await self.store.staff_ids(street) | {e.staff_id for e in entries if e.staff_id and e.worker_name}
        problems = []
        for number, entry in zip(numbers or range(len(entries)), entries, strict=True):
            if not community_in_street(entry.code, street):
                problems.append((f"{at}/{number}/code", "is not a community of this street (12 digits, its first 9)"))
            if entry.staff_id is not None and entry.staff_id not in known:
                problems.append((f"{at}/{number}/staff_id", "is not a registered worker of this street"))
        if len({e.code for e in entries}) != len(entries):
            problems.append((at, "lists a community more than once"))
        if problems:
            raise Invalid(problems)
        named = {e.staff_id: e.worker_name for e in entries if e.staff_id and e.worker_name}
        if named:
            await self.register_workers(street, sorted(named.items()))
        await self.store.save_communities([Community(e.code, e.name, e.staff_id) for e in entries], self._now())
        return [entry.code for entry in entries]

    async def require_worker(self, street: str, staff_id: str | None, *, at: str) -> None:
        if staff_id is not None and staff_id not in await self.store.staff_ids(street):
            raise Invalid.at(at, "is not a registered worker of this street")

    async def register(self, code: str) -> Register:
        return await self.store.register(code)

    async def workers(self, code: str) -> list[dict[str, Any]]:
        """The workers of a street or district with the communities each answers for."""
        register = await self.store.register(code)
        return [
            {**worker.shown(), "communities": register.communities_of(worker)}
            for _, worker in sorted(register.workers.items())
        ]

    async def communities(self, code: str) -> dict[str, Any]:
        """Registered communities and those only seen in records, each with its worker; who has none."""
        register = await self.store.register(code)
        seen = await self.store.communities_seen(code)
        listed = sorted(set(register.communities) | set(seen))
        return {
            "code": code,
            "communities": [
                {
                    "community": community,
                    "street": community[:9],
                    "name": (register.communities.get(community) or Community(community)).name,
                    "registered": community in register.communities,
                    "worker": worker.shown() if (worker := register.worker_of(community)) else None,
                }
                for community in listed
            ],
            "unassigned": register.unassigned(seen),
        }

    def _now(self) -> Any:
        return self._reports.clock.now()
