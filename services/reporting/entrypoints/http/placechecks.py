"""HTTP edge of place checks: the persons found at a place, compared with PopFlow, the missed entered."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.reporting.domain.placechecks import PlaceKind
from services.reporting.entrypoints.http.access import (
    Authenticate,
    bearer_key,
    require_access_to,
    require_bureau,
    require_district_or_street,
)
from services.reporting.entrypoints.http.days import Day
from services.reporting.service_layer.errors import NotFound
from services.reporting.service_layer.placechecks import PlaceChecks
from services.reporting.service_layer.spotchecks import SpotChecks
from shared.auth.scopes import Principal
from shared.events.record_parts import Employer, MaritalStatus
from shared.events.records import Person, Registration, Residence

VISIBLE = r"^[^\x00-\x1f\x7f-\x9f]*$"  # no control characters: the text is stored and shown as typed
STREET = r"^[0-9]{9}$"
MOST_PERSONS = 500


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PlaceIn(Strict):
    kind: PlaceKind = Field(
        description="market, roadside_shop, enterprise, school, kindergarten, rental_housing, other"
    )
    name: str = Field(
        min_length=1, max_length=200, pattern=VISIBLE, description="Name of the place (市场、企业、学校…)"
    )
    address: str = Field(default="", max_length=200, pattern=VISIBLE, description="Where it is")


class PersonFound(Strict):
    person: Person = Field(description="Identity number and name as on the card (sex, phone optional)")
    residence: Residence | None = Field(
        default=None, description="Where the person lives now; required when PopFlow holds no record of them"
    )
    registration: Registration | None = Field(
        default=None, description="Household-registration place; required when PopFlow holds no record of them"
    )
    marital_status: MaritalStatus | None = Field(default=None, description="Marital status, when asked")
    employer: Employer | None = Field(default=None, description="Employer, e.g. the enterprise checked")


class PlaceCheckIn(Strict):
    place_check_id: uuid.UUID = Field(description="The check's own id, chosen by the caller: posting it again is safe")
    street: str = Field(pattern=STREET, description="Street the place lies in; the missed count against it")
    community: str | None = Field(default=None, pattern=r"^[0-9]{12}$", description="Community inside the street")
    place: PlaceIn = Field(description="The place checked")
    checked_on: Day = Field(description="Day of the check (not after today)")
    checker: str = Field(min_length=1, max_length=50, pattern=VISIBLE, description="Who checked (staff, team)")
    note: str = Field(default="", max_length=500, pattern=VISIBLE, description="Anything the checker noted")
    persons: list[PersonFound] = Field(
        min_length=1, max_length=MOST_PERSONS, description="Everyone found at the place, each once"
    )

    def place_values(self) -> dict[str, Any]:
        return {
            "place_check_id": str(self.place_check_id),
            "street": self.street,
            "community": self.community,
            "place_kind": self.place.kind.value,
            "place_name": self.place.name,
            "place_address": self.place.address,
            "checked_on": self.checked_on,
            "checker": self.checker,
            "note": self.note,
        }


def placechecks_router(checks: SpotChecks, places: PlaceChecks, authenticate: Authenticate) -> APIRouter:
    router = APIRouter(prefix="/v1/spotchecks/{check_id}/places", tags=["spot checks"])
    Caller = Annotated[Principal, Depends(authenticate)]

    @router.post("", status_code=201)
    async def post(principal: Caller, request: Request, check_id: str, body: PlaceCheckIn) -> JSONResponse:
        """A place check of the spot check: 201 when new, 200 when the same check was posted before."""
        header, _ = await checks.get(check_id)
        require_bureau(principal, header["district"])
        persons = [p.model_dump(mode="json", exclude_none=True) for p in body.persons]
        key = bearer_key(request) or ""  # a change always comes with the bearer key (access.py)
        shown, created = await places.post(header, body.place_values(), persons, by=principal.key_id, key=key)
        return JSONResponse(shown, status_code=201 if created else 200)

    @router.get("")
    async def listing(
        principal: Caller,
        check_id: str,
        street: Annotated[str | None, Query(pattern=STREET, description="One street's place checks")] = None,
    ) -> Any:
        header, _ = await checks.get(check_id)
        code = require_district_or_street(principal, header["district"], street)
        return {"check_id": check_id, "places": await places.listing(check_id, code)}

    @router.get("/{place_check_id}")
    async def read(principal: Caller, check_id: str, place_check_id: str) -> Any:
        await checks.get(check_id)
        found = await places.get(place_check_id)
        if found["check_id"] != check_id:
            raise NotFound("No place check with this id in this spot check.")
        require_access_to(principal, found["street"])
        return found

    return router
