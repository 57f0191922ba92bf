"""HTTP edge of spot checks: draw a sample, post field results, rank the streets."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.reporting.adapters.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, to_csv, to_xlsx
from services.reporting.entrypoints.http.access import Authenticate, require_bureau, require_district_or_street
from services.reporting.entrypoints.http.placechecks import VISIBLE
from services.reporting.service_layer.spotchecks import SpotCheck, SpotChecks
from shared.auth.scopes import Principal
from shared.http.problems import ProblemError

WEEK = r"^[0-9]{4}-W[0-9]{2}$"


class SampleRequest(BaseModel):
    district: str = Field(pattern=r"^[0-9]{6}$", description="The bureau's district")
    seed: str = Field(
        min_length=1,
        max_length=64,
        pattern=VISIBLE,
        description="Seed of the draw; the same seed draws the same cases",
    )
    size_per_street: int = Field(
        ge=0, le=1000, description="Cases drawn per street (fewer if it has fewer); 0 for place checks only"
    )
    week_from: str = Field(pattern=WEEK, description="First report week of the population")
    week_to: str = Field(pattern=WEEK, description="Last report week of the population")


class FieldResult(BaseModel):
    record_id: str = Field(max_length=36, description="A case of the sample")
    result: str = Field(pattern=r"^(correct|wrong|not_found)$", description="correct, wrong or not_found")
    note: str = Field(default="", max_length=500, pattern=VISIBLE, description="What the field worker found")


def spotchecks_router(checks: SpotChecks, authenticate: Authenticate) -> APIRouter:
    router = APIRouter(prefix="/v1/spotchecks", tags=["spot checks"])
    Caller = Annotated[Principal, Depends(authenticate)]

    async def load(principal: Principal, check_id: str) -> SpotCheck:
        found = await checks.get(check_id)
        require_bureau(principal, found[0]["district"])
        return found

    @router.post("", status_code=201)
    async def draw(principal: Caller, body: SampleRequest) -> Any:
        require_bureau(principal, body.district)
        return await checks.draw(body.model_dump())

    @router.get("/{check_id}")
    async def read(principal: Caller, check_id: str) -> Any:
        header, items = await load(principal, check_id)
        return {**header, "items": items}

    @router.get("/{check_id}/list.{fmt}")
    async def export(principal: Caller, check_id: str, fmt: str) -> Response:
        if fmt not in ("xlsx", "csv"):
            raise ProblemError(404, "Not Found", "Lists are exported as .xlsx or .csv.")
        sheet = checks.sheet(await load(principal, check_id))
        body, media = (to_xlsx(sheet), XLSX_MEDIA_TYPE) if fmt == "xlsx" else (to_csv(sheet), CSV_MEDIA_TYPE)
        disposition = f'attachment; filename="spotcheck-{check_id}.{fmt}"'
        return Response(body, media_type=media, headers={"content-disposition": disposition})

    @router.post("/{check_id}/results")
    async def post_result(principal: Caller, check_id: str, body: FieldResult) -> Any:
        await load(principal, check_id)
        await checks.record_result(check_id, body.record_id, body.result, body.note)
        return {"check_id": check_id, "record_id": body.record_id, "result": body.result}

    @router.get("/{check_id}/discrepancies")
    async def ranking(
        principal: Caller,
        check_id: str,
        street: Annotated[str | None, Query(pattern=r"^[0-9]{9}$", description="One street's row")] = None,
    ) -> Any:
        """Streets ranked by wrong, not found and missed; a street office sees its own row."""
        check = await checks.get(check_id)
        code = require_district_or_street(principal, check[0]["district"], street)
        rows = await checks.ranking(check, street=code if len(code) == 9 else None)
        return {"check_id": check_id, "threshold": checks.threshold, "streets": rows}

    return router
