"""HTTP edge of the weekly report: JSON, its item lists, quality, exports and sign-off."""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.reporting.adapters.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, to_csv, to_xlsx
from services.reporting.domain.paging import ITEMS_LIMIT, ITEMS_MAX, MAX_CURSOR_CHARS
from services.reporting.domain.responsibility import Cut
from services.reporting.domain.sheets import cut_sheet, weekly_sheet
from services.reporting.domain.signoff import Decision
from services.reporting.entrypoints.http.access import (
    Authenticate,
    require_access_to,
    require_bureau,
    require_own_street,
)
from services.reporting.service_layer import signoffs
from services.reporting.service_layer.cuts import WeeklyCuts
from services.reporting.service_layer.reports import ReportService
from shared.auth.scopes import Principal
from shared.directory.divisions import district_of
from shared.http.problems import FieldError, ProblemError, ValidationProblem

SAFE_FILENAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
Street = Annotated[str | None, Query(pattern=r"^[0-9]{9}$", description="9-digit street code")]
District = Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="6-digit district code")]
Week = Annotated[str, Query(description="Report week, YYYY-Www (ends at the cut-off, Friday 10:00)")]
By = Annotated[
    Cut | None, Query(description="Cut the figures or items by community or by responsible worker (分片包干)")
]

ItemsLimit = Annotated[
    int,
    Query(
        ge=1,
        le=ITEMS_MAX,
        description=f"Most items in one answer (default {ITEMS_LIMIT:,}, at most {ITEMS_MAX:,});"
        " the rest come page by page with `after`",
    ),
]
After = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR_CHARS,
        description="The `next` cursor of the previous answer: the page after it (none: the first page)",
    ),
]


class WeekRef(BaseModel):
    street: str = Field(pattern=r"^[0-9]{9}$", description="The street whose week it is")
    week: str = Field(pattern=r"^[0-9]{4}-W[0-9]{2}$", description="Report week, YYYY-Www")


class Review(WeekRef):
    decision: Decision = Field(description="accept (locks the week) or return (with a comment)")
    comment: str = Field(default="", max_length=500, description="Why it is returned, or a remark")


def one_code(street: str | None, district: str | None) -> str:
    if (street is None) == (district is None):
        raise ValidationProblem([FieldError.at(("street",), "give either street or district, not both or neither")])
    return street or district or ""


def reports_router(service: ReportService, cuts: WeeklyCuts, authenticate: Authenticate) -> APIRouter:
    router = APIRouter(prefix="/v1/reports", tags=["reports"])
    Caller = Annotated[Principal, Depends(authenticate)]

    def scope(principal: Principal, street: str | None, district: str | None) -> str:
        """The one street or district asked for, if the key covers it."""
        code = one_code(street, district)
        require_access_to(principal, code)
        return code

    @router.get("/weekly")
    async def weekly(
        principal: Caller, week: Week, street: Street = None, district: District = None, by: By = None
    ) -> Any:
        return await cuts.weekly(scope(principal, street, district), week, by)

    @router.get("/weekly.xlsx")
    async def weekly_xlsx(
        principal: Caller, week: Week, street: Street = None, district: District = None, by: By = None
    ) -> Response:
        report = await cuts.weekly(scope(principal, street, district), week, by)
        body = to_xlsx(_sheet(report, service.calendar.zone))
        return Response(body, media_type=XLSX_MEDIA_TYPE, headers=_attachment(_file_name(report, week, by, "xlsx")))

    @router.get("/weekly.csv")
    async def weekly_csv(
        principal: Caller, week: Week, street: Street = None, district: District = None, by: By = None
    ) -> Response:
        report = await cuts.weekly(scope(principal, street, district), week, by)
        body = to_csv(_sheet(report, service.calendar.zone))
        return Response(body, media_type=CSV_MEDIA_TYPE, headers=_attachment(_file_name(report, week, by, "csv")))

    @router.get("/weekly/items")
    async def weekly_items(
        principal: Caller,
        week: Week,
        figure: Annotated[str, Query(max_length=40, description="A figure name of the report, e.g. new_inflow")],
        street: Street = None,
        district: District = None,
        by: By = None,
        limit: ItemsLimit = ITEMS_LIMIT,
        after: After = None,
    ) -> Any:
        """The ids behind one count of the weekly report, by id, a page at a time: `count` is every item of the
        figure, `items` at most `limit` of them, and `next` the cursor of the following page (null: none)."""
        code = scope(principal, street, district)
        return await cuts.items(code, week, figure, by, limit=limit, after=after)

    @router.get("/quality")
    async def quality(principal: Caller, week: Week, street: Street = None, district: District = None) -> Any:
        return await service.quality(scope(principal, street, district), week)

    @router.post("/weekly/submit")
    async def submit_week(principal: Caller, body: WeekRef) -> Any:
        require_own_street(principal, body.street)
        signoff = await signoffs.submit_week(service, body.street, body.week)
        return {"street": body.street, "week": body.week, "state": signoff.state.value}

    @router.post("/weekly/review")
    async def review_week(principal: Caller, body: Review) -> Any:
        require_bureau(principal, district_of(body.street))
        signoff = await signoffs.review_week(service, body.street, body.week, body.decision, body.comment)
        return {"street": body.street, "week": body.week, "state": signoff.state.value}

    return router


def _sheet(report: dict[str, Any], zone: Any) -> Any:
    return cut_sheet(report, zone) if "cut" in report else weekly_sheet(report, zone)


def _file_name(report: dict[str, Any], week: str, by: Cut | None, extension: str) -> str:
    return f"{week}-{report['code']}{f'-by-{by.value}' if by else ''}.{extension}"


def _attachment(filename: str) -> dict[str, str]:
    # the week and code are full-matched before they get here; this is the last line of defence
    if not SAFE_FILENAME.fullmatch(filename):
        raise ProblemError(400, "Bad Request", "The export's file name would not be a plain name.")
    return {"content-disposition": f'attachment; filename="{filename}"'}
