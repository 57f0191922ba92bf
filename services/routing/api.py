"""Routing's HTTP edge: read a record's routing decision."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.adapters.tables import RoutedRecord
from shared.http.problems import problem


def decisions_router(sessions: async_sessionmaker[AsyncSession]) -> APIRouter:
    router = APIRouter(prefix="/v1/decisions", tags=["decisions"])

    @router.get("/{record_id}")
    async def read_decision(record_id: str) -> JSONResponse:
        async with sessions() as session:
            row = await session.get(RoutedRecord, record_id)
        if row is None:
            return problem(404, "Not Found", "No routing decision for this record (yet).")
        return JSONResponse(row.model_dump(mode="json"))

    return router
