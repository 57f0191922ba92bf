"""The campaign plan: a bureau's campaign, its streets' key areas and timetable, and each street's result."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from services.reporting.adapters.campaign_store import CampaignStore
from services.reporting.domain.campaign import Campaign, Phase, validate_phases
from services.reporting.domain.key_area_lists import ListStatus, list_due_on, list_status
from services.reporting.domain.signoff import CampaignDecision
from services.reporting.service_layer.errors import Invalid, NotFound
from services.reporting.service_layer.reports import ReportService
from services.reporting.service_layer.responsibility import Responsibilities
from shared.directory import DivisionLevel
from shared.directory.divisions import district_of


class CampaignPlan:
    def __init__(self, reports: ReportService, store: CampaignStore, responsibilities: Responsibilities) -> None:
        self._reports = reports
        self._store = store
        self._responsibilities = responsibilities

    async def create(self, values: dict[str, Any], phases: list[Phase]) -> dict[str, Any]:
        """`values` as the API took them (JSON types); Invalid lists what is wrong with the phases and target."""
        problems = validate_phases(phases)
        target = values["target"]
        if target["min_age"] is not None and target["max_age"] is not None and target["min_age"] > target["max_age"]:
            problems.append("target min_age is above max_age")
        if problems:
            raise Invalid([("phases", problem) for problem in problems])
        campaign_id = str(uuid.uuid4())
        await self._store.create({**values, "campaign_id": campaign_id, "created_at": self._reports.clock.now()})
        return {"campaign_id": campaign_id, **values}

    async def get(self, campaign_id: str) -> Campaign:
        campaign = await self._store.get(campaign_id)
        if campaign is None:
            raise NotFound("No campaign with this id.")
        return campaign

    async def add_areas(
        self,
        campaign: Campaign,
        street: str,
        areas: list[dict[str, Any]],
        *,
        at: str = "areas",
        numbers: Sequence[int] | None = None,
    ) -> list[str]:
        """Key areas of a street, each with its responsible worker (`staff_id`, optional) and its listing time.
        Invalid names every area whose worker is not registered, as `at`/<number>/staff_id."""
        self._require_street_of(campaign, street)
        known = await self._responsibilities.store.staff_ids(street)
        unknown = [
            (f"{at}/{number}/staff_id", "is not a registered worker of this street")
            for number, area in zip(numbers or range(len(areas)), areas, strict=True)
            if area.get("staff_id") is not None and area["staff_id"] not in known
        ]
        if unknown:
            raise Invalid(unknown)
        now = self._reports.clock.now()
        rows = [
            {
                "staff_id": None,
                **area,
                "area_id": str(uuid.uuid4()),
                "campaign_id": campaign.campaign_id,
                "street": street,
                "listed_at": now,
            }
            for area in areas
        ]
        await self._store.add_areas(rows)
        return [row["area_id"] for row in rows]

    async def areas(self, campaign_id: str, code: str) -> list[dict[str, Any]]:
        """The key areas of a street or district, each with its worker (None: nobody responsible yet)."""
        register = await self._responsibilities.register(code)
        return [
            {**area, "worker": worker.shown() if (worker := register.workers.get(_key(area))) else None}
            for area in await self._store.areas(campaign_id, code)
        ]

    async def assign_area(self, campaign_id: str, area: dict[str, Any], staff_id: str | None) -> None:
        await self._responsibilities.require_worker(area["street"], staff_id, at="staff_id")
        await self._responsibilities.store.assign_area(area["area_id"], staff_id)

    async def list_statuses(self, campaign: Campaign, streets: list[str]) -> list[ListStatus]:
        """Whether each street's key-area list came in by the campaign's third day, as of now."""
        due_on, listed = list_due_on(campaign.starts_on), await self._store.lists_in(campaign.campaign_id)
        now, zone = self._reports.clock.now(), self._reports.calendar.zone
        return [
            list_status(street, due_on, has_areas=street in listed, listed_at=listed.get(street), now=now, zone=zone)
            for street in streets
        ]

    def streets_of(self, campaign: Campaign) -> list[str]:
        return self._reports.directory.streets_of(campaign.district)

    def name_of(self, code: str) -> str | None:
        return self._reports.name(code)

    async def area(self, campaign_id: str, area_id: str) -> dict[str, Any]:
        areas = {a["area_id"]: a for a in await self._store.areas(campaign_id, "")}
        if area_id not in areas:
            raise NotFound("No such key area in this campaign.")
        return areas[area_id]

    async def mark_canvassed(self, campaign_id: str, area_id: str, on: date) -> None:
        await self._store.mark_canvassed(campaign_id, area_id, on, at=self._reports.clock.now())

    async def decide(self, campaign: Campaign, street: str, decision: CampaignDecision, comment: str) -> None:
        self._require_street_of(campaign, street)
        if decision is CampaignDecision.RECANVASS and not comment.strip():
            raise Invalid.at("comment", "say why the street must canvass again")
        signoffs, now = self._reports.signoffs, self._reports.clock.now()
        await signoffs.decide_campaign(campaign.campaign_id, street, decision.value, comment, now)

    def _require_street_of(self, campaign: Campaign, street: str) -> None:
        """A campaign's areas and results belong to the streets of its district, and to real ones."""
        known = self._reports.directory.exists(street, DivisionLevel.STREET)
        if district_of(street) != campaign.district or not known:
            raise Invalid.at("street", "is not a street of the campaign's district")

    async def results(self, campaign_id: str) -> list[dict[str, Any]]:
        return await self._reports.signoffs.campaign_results(campaign_id)


def _key(area: dict[str, Any]) -> str:
    return f"{area['street']}/{area['staff_id']}"
