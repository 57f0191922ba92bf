"""HTTP edge of the campaign plan: the campaign, streets' key areas and timetable, results."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from services.reporting.domain.campaign import Phase
from services.reporting.domain.key_area_lists import list_due_on, overdue
from services.reporting.domain.registers import AREA_COLUMNS, AREA_REQUIRED
from services.reporting.domain.signoff import CampaignDecision
from services.reporting.entrypoints.http.access import (
    Authenticate,
    require_access_to,
    require_bureau,
    require_in_district,
    require_office_of,
)
from services.reporting.entrypoints.http.days import Day
from services.reporting.entrypoints.http.responsibility import STAFF_ID
from services.reporting.entrypoints.http.uploads import SHEET_BODY, lines_as, sheet_lines
from services.reporting.service_layer.campaigns import CampaignPlan
from shared.auth.scopes import Action, Principal
from shared.events.record_parts import KeyAreaKind, Sex


class PhaseIn(BaseModel):
    name: str = Field(min_length=1, max_length=50, description="e.g. mobilisation, canvass, acceptance")
    starts_on: Day = Field(description="First day of the phase")
    ends_on: Day = Field(description="Last day of the phase")


class TargetIn(BaseModel):
    sexes: list[Sex] = Field(default_factory=list, description="Empty: any sex")
    min_age: int | None = Field(default=None, ge=0, le=120, description="Youngest age, in completed years")
    max_age: int | None = Field(default=None, ge=0, le=120, description="Oldest age, in completed years")
    marital_statuses: list[str] = Field(default_factory=list, description="e.g. married; empty: any")
    arrived_from: Day | None = Field(default=None, description="Arrived (流入时间) on or after")
    arrived_to: Day | None = Field(default=None, description="Arrived on or before")


class CampaignIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="Name of the campaign")
    district: str = Field(pattern=r"^[0-9]{6}$", description="The bureau's district")
    phases: list[PhaseIn] = Field(description="Phases with their dates")
    target: TargetIn = Field(default_factory=TargetIn, description="Target-population filter of this campaign")


class AreaIn(BaseModel):
    kind: KeyAreaKind = Field(description="market, roadside_shop, enterprise, rental_housing or other")
    name: str = Field(min_length=1, max_length=200, description="Name of the key area")
    address: str = Field(min_length=1, max_length=200, description="Where it is")
    planned_on: Day = Field(description="Canvass timetable: the day it is to be canvassed")
    staff_id: str | None = Field(
        default=None, pattern=STAFF_ID, description="Its responsible worker (a registered worker of the street)"
    )


class AreasIn(BaseModel):
    street: str = Field(pattern=r"^[0-9]{9}$", description="The street the areas lie in")
    areas: list[AreaIn] = Field(min_length=1, max_length=500, description="Key areas and their timetable")


class AssignmentIn(BaseModel):
    staff_id: str | None = Field(pattern=STAFF_ID, description="The responsible worker; null: nobody responsible")


class CanvassedIn(BaseModel):
    on: Day = Field(description="Day the area was canvassed")


class ResultIn(BaseModel):
    street: str = Field(pattern=r"^[0-9]{9}$", description="The street whose campaign result is decided")
    decision: CampaignDecision = Field(description="accept, or recanvass (sent back for a new canvass)")
    comment: str = Field(default="", max_length=500, description="Why, in words")


def campaigns_router(plan: CampaignPlan, authenticate: Authenticate) -> APIRouter:
    """The campaign itself, its streets' key areas and their canvass, and its results, declared on one
    router: an included router would be one more level for FastAPI to match on every request."""
    router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
    _add_campaign_routes(router, plan, authenticate)
    _add_key_area_routes(router, plan, authenticate)
    _add_result_routes(router, plan, authenticate)
    return router


def _add_campaign_routes(router: APIRouter, plan: CampaignPlan, authenticate: Authenticate) -> None:
    Caller = Annotated[Principal, Depends(authenticate)]

    @router.post("", status_code=201)
    async def create(principal: Caller, body: CampaignIn) -> Any:
        require_bureau(principal, body.district)
        phases = [Phase(p.name, p.starts_on, p.ends_on) for p in body.phases]
        return await plan.create(body.model_dump(mode="json"), phases)

    @router.get("/{campaign_id}")
    async def read(principal: Caller, campaign_id: str) -> Any:
        campaign = await plan.get(campaign_id)
        require_in_district(principal, campaign.district)
        streets = [street for street in plan.streets_of(campaign) if principal.may(Action.READ, street)]
        statuses = await plan.list_statuses(campaign, streets)
        return {
            "campaign_id": campaign.campaign_id,
            "name": campaign.name,
            "district": campaign.district,
            "phases": [{"name": p.name, "starts_on": p.starts_on, "ends_on": p.ends_on} for p in campaign.phases],
            "key_area_lists": {
                "due_on": list_due_on(campaign.starts_on),
                "streets": [status.shown() for status in statuses],
                "overdue": [status.street for status in overdue(statuses)],
            },
        }


def _add_key_area_routes(router: APIRouter, plan: CampaignPlan, authenticate: Authenticate) -> None:
    Caller = Annotated[Principal, Depends(authenticate)]

    @router.post("/{campaign_id}/areas", status_code=201)
    async def add_areas(principal: Caller, campaign_id: str, body: AreasIn) -> Any:
        campaign = await plan.get(campaign_id)
        require_office_of(principal, body.street)
        areas = [area.model_dump() for area in body.areas]
        return {"area_ids": await plan.add_areas(campaign, body.street, areas)}

    @router.post("/{campaign_id}/areas/sheet", status_code=201, openapi_extra=SHEET_BODY)
    async def upload_areas(
        principal: Caller, request: Request, campaign_id: str, street: Annotated[str, Query(pattern=r"^[0-9]{9}$")]
    ) -> Any:
        """The key-area list as a sheet: 类型, 名称, 地址, 计划清查日期, 责任人工号 (a title line above is fine)."""
        campaign = await plan.get(campaign_id)
        require_office_of(principal, street)
        lines = lines_as(AreaIn, await sheet_lines(request, AREA_REQUIRED), AREA_COLUMNS)
        areas = [area.model_dump() for _, area in lines]
        return {"area_ids": await plan.add_areas(campaign, street, areas, numbers=[n for n, _ in lines], at="lines")}

    @router.get("/{campaign_id}/areas")
    async def list_areas(
        principal: Caller, campaign_id: str, street: Annotated[str, Query(pattern=r"^[0-9]{6}([0-9]{3})?$")]
    ) -> Any:
        require_access_to(principal, street)
        return {"campaign_id": campaign_id, "areas": await plan.areas(campaign_id, street)}

    @router.post("/{campaign_id}/areas/{area_id}/canvassed")
    async def canvassed(principal: Caller, campaign_id: str, area_id: str, body: CanvassedIn) -> Any:
        area = await plan.area(campaign_id, area_id)
        require_office_of(principal, area["street"])
        await plan.mark_canvassed(campaign_id, area_id, body.on)
        return {"area_id": area_id, "canvassed_on": body.on}

    @router.put("/{campaign_id}/areas/{area_id}/worker")
    async def assign_worker(principal: Caller, campaign_id: str, area_id: str, body: AssignmentIn) -> Any:
        area = await plan.area(campaign_id, area_id)
        require_office_of(principal, area["street"])
        await plan.assign_area(campaign_id, area, body.staff_id)
        return {"area_id": area_id, "staff_id": body.staff_id}


def _add_result_routes(router: APIRouter, plan: CampaignPlan, authenticate: Authenticate) -> None:
    Caller = Annotated[Principal, Depends(authenticate)]

    @router.post("/{campaign_id}/results")
    async def decide(principal: Caller, campaign_id: str, body: ResultIn) -> Any:
        campaign = await plan.get(campaign_id)
        require_bureau(principal, campaign.district)
        await plan.decide(campaign, body.street, body.decision, body.comment)
        return {"campaign_id": campaign_id, "street": body.street, "decision": body.decision.value}

    @router.get("/{campaign_id}/results")
    async def results(principal: Caller, campaign_id: str) -> Any:
        campaign = await plan.get(campaign_id)
        require_access_to(principal, campaign.district)
        return {"campaign_id": campaign_id, "results": await plan.results(campaign_id)}
