"""HTTP edge of the responsible workers (分片包干): the register of workers and of communities.

A street office keeps its own street's register, its bureau any street of
the district, admin everything; a submitter key neither reads nor writes it.
Workers' names are answered only to keys that may read their street.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.reporting.domain.registers import COMMUNITY_COLUMNS, COMMUNITY_REQUIRED
from services.reporting.domain.responsibility import COMMUNITY
from services.reporting.domain.responsibility import STAFF_ID as STAFF_ID_RULE
from services.reporting.entrypoints.http.access import Authenticate, require_access_to, require_office_of
from services.reporting.entrypoints.http.reports import District, Street, one_code
from services.reporting.entrypoints.http.uploads import SHEET_BODY, lines_as, sheet_lines
from services.reporting.service_layer.responsibility import CommunityEntry, Responsibilities
from shared.auth.scopes import Principal

STREET = r"^[0-9]{9}$"
STAFF_ID = f"^{STAFF_ID_RULE.pattern}$"
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # a name or place on one line, no control characters


class WorkerIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    staff_id: str = Field(pattern=STAFF_ID, description="The worker's staff id (工号), unique in the street")
    name: str = Field(min_length=1, max_length=50, pattern=PRINTABLE, description="The worker's name (sealed at rest)")


class WorkersIn(BaseModel):
    street: str = Field(pattern=STREET, description="The street the workers serve")
    workers: list[WorkerIn] = Field(min_length=1, max_length=500, description="Workers to register or rename")


class CommunityIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    code: str = Field(pattern=f"^{COMMUNITY.pattern}$", description="12-digit community code, its first 9 the street's")
    name: str | None = Field(default=None, max_length=100, pattern=PRINTABLE, description="The community's name")
    staff_id: str | None = Field(default=None, pattern=STAFF_ID, description="Its responsible worker; null: nobody")
    worker_name: str | None = Field(
        default=None, max_length=50, pattern=PRINTABLE, description="Registers (or renames) that worker on the way"
    )


class CommunitiesIn(BaseModel):
    street: str = Field(pattern=STREET, description="The street the communities lie in")
    communities: list[CommunityIn] = Field(min_length=1, max_length=500, description="Communities and their workers")


def responsibility_router(register: Responsibilities, authenticate: Authenticate) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["responsible workers"])
    Caller = Annotated[Principal, Depends(authenticate)]

    @router.post("/workers")
    async def register_workers(principal: Caller, body: WorkersIn) -> Any:
        require_office_of(principal, body.street)
        named = [(w.staff_id, w.name.strip()) for w in body.workers]
        return {"street": body.street, "staff_ids": await register.register_workers(body.street, named)}

    @router.get("/workers")
    async def list_workers(principal: Caller, street: Street = None, district: District = None) -> Any:
        code = one_code(street, district)
        require_access_to(principal, code)
        return {"code": code, "workers": await register.workers(code)}

    @router.post("/communities")
    async def assign_communities(principal: Caller, body: CommunitiesIn) -> Any:
        require_office_of(principal, body.street)
        entries = [CommunityEntry(**c.model_dump()) for c in body.communities]
        codes = await register.assign_communities(body.street, entries, at="communities")
        return {"street": body.street, "communities": codes}

    @router.post("/communities/sheet", openapi_extra=SHEET_BODY)
    async def upload_communities(
        principal: Caller, request: Request, street: Annotated[str, Query(pattern=STREET)]
    ) -> Any:
        """The community register as a sheet: 社区代码, 社区名称, 责任人工号, 责任人 (a title line above is fine)."""
        require_office_of(principal, street)
        lines = lines_as(CommunityIn, await sheet_lines(request, COMMUNITY_REQUIRED), COMMUNITY_COLUMNS)
        entries = [CommunityEntry(**c.model_dump()) for _, c in lines]
        codes = await register.assign_communities(street, entries, at="lines", numbers=[n for n, _ in lines])
        return {"street": street, "communities": codes}

    @router.get("/communities")
    async def list_communities(principal: Caller, street: Street = None, district: District = None) -> Any:
        code = one_code(street, district)
        require_access_to(principal, code)
        return await register.communities(code)

    return router
