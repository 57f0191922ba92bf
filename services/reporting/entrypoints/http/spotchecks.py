"""HTTP edge of spot checks: draw a sample, post field results, rank the streets."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.reporting.adapters.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, to_csv, to_xlsx
from services.reporting.adapters.spotcheck_store import SpotCheckStore
from services.reporting.domain.sheets import spotcheck_sheet
from services.reporting.domain.spotchecks import discrepancies, draw_sample
from services.reporting.entrypoints.http.access import Authenticate, require_bureau
from services.reporting.service_layer.reports import ReportService
from shared.auth.scopes import Principal
from shared.http.problems import FieldError, problem, validation_problem

WEEK = r"^\d{4}-W\d{2}$"


class SampleRequest(BaseModel):
    district: str = Field(pattern=r"^\d{6}$", description="The bureau's district")
    seed: str = Field(min_length=1, max_length=64, description="Seed of the draw; the same seed draws the same cases")
    size_per_street: int = Field(ge=1, le=1000, description="Cases drawn per street (fewer if it has fewer)")
    week_from: str = Field(pattern=WEEK, description="First report week of the population")
    week_to: str = Field(pattern=WEEK, description="Last report week of the population")


class FieldResult(BaseModel):
    record_id: str = Field(max_length=36, description="A case of the sample")
    result: str = Field(pattern=r"^(correct|wrong|not_found)$", description="correct, wrong or not_found")
    note: str = Field(default="", max_length=500, description="What the field worker found")


def spotchecks_router(
    service: ReportService, store: SpotCheckStore, authenticate: Authenticate, *, threshold: float
) -> APIRouter:
    router = APIRouter(prefix="/v1/spotchecks", tags=["spot checks"])
    Caller = Annotated[Principal, Depends(authenticate)]

    async def load(principal: Principal, check_id: str) -> Any:
        found = await store.get(check_id)
        if found is None:
            return problem(404, "Not Found", "No spot check with this id.")
        require_bureau(principal, found[0]["district"])
        return found

    @router.post("", status_code=201)
    async def draw(principal: Caller, body: SampleRequest) -> Any:
        require_bureau(principal, body.district)
        if body.week_from > body.week_to:
            return validation_problem([FieldError.at(("week_to",), "must not come before week_from")])
        candidates = await store.candidates(body.district, body.week_from, body.week_to)
        sample = draw_sample(candidates, seed=body.seed, size_per_street=body.size_per_street)
        header = {**body.model_dump(), "check_id": str(uuid.uuid4()), "drawn_at": service.clock.now()}
        await store.create(header, sample)
        return {"check_id": header["check_id"], "sample": sample}

    @router.get("/{check_id}")
    async def read(principal: Caller, check_id: str) -> Any:
        found = await load(principal, check_id)
        if isinstance(found, Response):
            return found
        header, items = found
        return {**header, "items": items}

    @router.get("/{check_id}/list.{fmt}")
    async def export(principal: Caller, check_id: str, fmt: str) -> Response:
        if fmt not in ("xlsx", "csv"):
            return problem(404, "Not Found", "Lists are exported as .xlsx or .csv.")
        found = await load(principal, check_id)
        if isinstance(found, Response):
            return found
        header, items = found
        names = {code: service.name(code) for code in {header["district"], *(i["street"] for i in items)}}
        sheet = spotcheck_sheet(header, items, names)
        body, media = (to_xlsx(sheet), XLSX_MEDIA_TYPE) if fmt == "xlsx" else (to_csv(sheet), CSV_MEDIA_TYPE)
        disposition = f'attachment; filename="spotcheck-{check_id}.{fmt}"'
        return Response(body, media_type=media, headers={"content-disposition": disposition})

    @router.post("/{check_id}/results")
    async def post_result(principal: Caller, check_id: str, body: FieldResult) -> Any:
        found = await load(principal, check_id)
        if isinstance(found, Response):
            return found
        if not await store.record_result(check_id, body.record_id, body.result, body.note, service.clock.now()):
            return validation_problem([FieldError.at(("record_id",), "this case is not in the sample")])
        return {"check_id": check_id, "record_id": body.record_id, "result": body.result}

    @router.get("/{check_id}/discrepancies")
    async def ranking(principal: Caller, check_id: str) -> Any:
        found = await load(principal, check_id)
        if isinstance(found, Response):
            return found
        return {
            "check_id": check_id,
            "threshold": threshold,
            "streets": await street_ranking(service, found[1], threshold),
        }

    return router


async def street_ranking(service: ReportService, items: list[dict[str, Any]], threshold: float) -> list[dict[str, Any]]:
    results: dict[str, list[str | None]] = {}
    for item in items:
        results.setdefault(item["street"], []).append(item["result"])
    return [_row(service, row) for row in discrepancies(results, threshold=threshold)]


def _row(service: ReportService, row: Any) -> dict[str, Any]:
    fields = ("street", "sampled", "checked", "wrong", "not_found", "rate", "flagged")
    return {**{name: getattr(row, name) for name in fields}, "name": service.name(row.street)}
