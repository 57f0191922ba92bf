"""Reporting's HTTP edge: the weekly counts of a street."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from services.reporting.adapters.store import ReportStore
from services.reporting.domain.weeks import report_week
from shared.events import Route
from shared.http.problems import FieldError, validation_problem


def reports_router(store: ReportStore, zone: ZoneInfo) -> APIRouter:
    router = APIRouter(prefix="/v1/reports", tags=["reports"])

    @router.get("/weekly")
    async def weekly_report(
        street: Annotated[str, Query(pattern=r"^\d{9}$", description="9-digit street code")],
        week: Annotated[str, Query(description="Report week, YYYY-Www (ends Friday 10:00)")],
    ) -> JSONResponse:
        try:
            bounds = report_week(week, zone)
        except ValueError as error:
            return validation_problem([FieldError.at(("week",), str(error))])
        records, per_route = await store.counts(street=street, week=week)
        return JSONResponse(
            {
                "street": street,
                "week": week,
                "starts_at": bounds.starts_at.isoformat(),
                "ends_at": bounds.ends_at.isoformat(),
                "records": records,
                "routes": {route.value: per_route.get(route.value, 0) for route in Route},
            }
        )

    return router
