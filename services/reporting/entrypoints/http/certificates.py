"""HTTP edge of the certificate follow-up list: JSON and XLSX, per street or district."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from services.reporting.adapters.exports import XLSX_MEDIA_TYPE, to_xlsx
from services.reporting.entrypoints.http.access import Authenticate, require_access_to
from services.reporting.entrypoints.http.reports import District, Street, one_code
from services.reporting.service_layer.certificates import CertificateFollowUps
from shared.auth.scopes import Principal

WithinDays = Annotated[int, Query(ge=0, le=366, description="Certificates valid for at most this many days more")]


def certificates_router(follow_ups: CertificateFollowUps, authenticate: Authenticate) -> APIRouter:
    router = APIRouter(prefix="/v1/certificates", tags=["certificates"])
    Caller = Annotated[Principal, Depends(authenticate)]

    def scope(principal: Principal, street: str | None, district: str | None) -> str:
        code = one_code(street, district)
        require_access_to(principal, code)
        return code

    @router.get("/follow-up")
    async def follow_up(
        principal: Caller, street: Street = None, district: District = None, within_days: WithinDays = 30
    ) -> Any:
        """Persons (as record ids: open them at intake) whose certificate expires within `within_days`,
        has expired, is invalid or missing, by their latest check; most urgent first."""
        return await follow_ups.listing(scope(principal, street, district), within_days=within_days)

    @router.get("/follow-up.xlsx")
    async def follow_up_xlsx(
        principal: Caller, street: Street = None, district: District = None, within_days: WithinDays = 30
    ) -> Response:
        code = scope(principal, street, district)
        body = to_xlsx(await follow_ups.sheet(code, within_days=within_days))
        disposition = {"Content-Disposition": f'attachment; filename="certificates-{code}.xlsx"'}
        return Response(body, media_type=XLSX_MEDIA_TYPE, headers=disposition)

    return router
