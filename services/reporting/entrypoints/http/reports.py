"""HTTP edge of the weekly report: JSON, its item lists, quality, exports and sign-off."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from services.reporting.adapters.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, to_csv, to_xlsx
from services.reporting.adapters.items import UnknownFigure
from services.reporting.domain.sheets import weekly_sheet
from services.reporting.domain.signoff import Decision, SignoffRefused, review, submit
from services.reporting.entrypoints.http.access import (
    Authenticate,
    require_access_to,
    require_bureau,
    require_own_street,
)
from services.reporting.service_layer.reports import ReportService
from shared.auth.scopes import Principal
from shared.directory.divisions import district_of
from shared.http.problems import FieldError, problem, validation_problem

Street = Annotated[str | None, Query(pattern=r"^\d{9}$", description="9-digit street code")]
District = Annotated[str | None, Query(pattern=r"^\d{6}$", description="6-digit district code")]
Week = Annotated[str, Query(description="Report week, YYYY-Www (ends at the cut-off, Friday 10:00)")]


class WeekRef(BaseModel):
    street: str = Field(pattern=r"^\d{9}$", description="The street whose week it is")
    week: str = Field(pattern=r"^\d{4}-W\d{2}$", description="Report week, YYYY-Www")


class Review(WeekRef):
    decision: Decision = Field(description="accept (locks the week) or return (with a comment)")
    comment: str = Field(default="", max_length=500, description="Why it is returned, or a remark")


def one_code(street: str | None, district: str | None) -> str | JSONResponse:
    if (street is None) == (district is None):
        return validation_problem([FieldError.at(("street",), "give either street or district, not both or neither")])
    return street or district or ""


def bad_week(error: ValueError) -> JSONResponse:
    return validation_problem([FieldError.at(("week",), str(error))])


def reports_router(service: ReportService, authenticate: Authenticate) -> APIRouter:
    router = APIRouter(prefix="/v1/reports", tags=["reports"])
    Caller = Annotated[Principal, Depends(authenticate)]

    async def scoped(
        principal: Principal,
        street: str | None,
        district: str | None,
        week: str,
        fetch: Callable[[str, str], Awaitable[Any]],
    ) -> Any:
        """One street or district the key covers, one well-formed week, then `fetch(code, week)`."""
        code = one_code(street, district)
        if isinstance(code, JSONResponse):
            return code
        require_access_to(principal, code)
        try:
            return await fetch(code, week)
        except ValueError as error:
            return bad_week(error)

    async def report_or_problem(principal: Principal, street: str | None, district: str | None, week: str) -> Any:
        return await scoped(principal, street, district, week, service.weekly)

    @router.get("/weekly")
    async def weekly(principal: Caller, week: Week, street: Street = None, district: District = None) -> Any:
        return await report_or_problem(principal, street, district, week)

    @router.get("/weekly.xlsx")
    async def weekly_xlsx(principal: Caller, week: Week, street: Street = None, district: District = None) -> Response:
        report = await report_or_problem(principal, street, district, week)
        if isinstance(report, JSONResponse):
            return report
        body = to_xlsx(weekly_sheet(report, service.calendar.zone))
        return Response(body, media_type=XLSX_MEDIA_TYPE, headers=_attachment(f"{week}-{report['code']}.xlsx"))

    @router.get("/weekly.csv")
    async def weekly_csv(principal: Caller, week: Week, street: Street = None, district: District = None) -> Response:
        report = await report_or_problem(principal, street, district, week)
        if isinstance(report, JSONResponse):
            return report
        body = to_csv(weekly_sheet(report, service.calendar.zone))
        return Response(body, media_type=CSV_MEDIA_TYPE, headers=_attachment(f"{week}-{report['code']}.csv"))

    @router.get("/weekly/items")
    async def weekly_items(
        principal: Caller,
        week: Week,
        figure: Annotated[str, Query(max_length=40, description="A figure name of the report, e.g. new_inflow")],
        street: Street = None,
        district: District = None,
    ) -> Any:
        async def items(code: str, week: str) -> Any:
            try:
                return await service.items(code, week, figure)
            except UnknownFigure as error:  # a ValueError too, but about the figure, not the week
                return validation_problem([FieldError.at(("figure",), str(error))])

        return await scoped(principal, street, district, week, items)

    @router.get("/quality")
    async def quality(principal: Caller, week: Week, street: Street = None, district: District = None) -> Any:
        return await scoped(principal, street, district, week, service.quality)

    @router.post("/weekly/submit")
    async def submit_week(principal: Caller, body: WeekRef) -> Any:
        require_own_street(principal, body.street)
        try:
            service.calendar.bounds(body.week)
            current = await service.signoffs.get(body.street, body.week)
            signoff = submit(current, street=body.street, week=body.week, at=service.clock.now())
        except SignoffRefused as error:
            return problem(409, "Conflict", str(error))
        except ValueError as error:
            return bad_week(error)
        await service.signoffs.save(signoff)
        return {"street": body.street, "week": body.week, "state": signoff.state.value}

    @router.post("/weekly/review")
    async def review_week(principal: Caller, body: Review) -> Any:
        require_bureau(principal, district_of(body.street))
        current = await service.signoffs.get(body.street, body.week)
        try:
            signoff = review(current, decision=body.decision, comment=body.comment, at=service.clock.now())
        except SignoffRefused as error:
            return problem(409, "Conflict", str(error))
        await service.signoffs.save(signoff)
        return {"street": body.street, "week": body.week, "state": signoff.state.value}

    return router


def _attachment(filename: str) -> dict[str, str]:
    return {"content-disposition": f'attachment; filename="{filename}"'}
