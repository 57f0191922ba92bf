"""Submit one record; read records back (by id, by identity number, as a list), each read audited.

A stored record that does not open with the deployment's data keys is a 503
naming the key id (`install_read_problems`): the deployment is at fault, not
the request, and nothing of the record is said.
"""

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.intake.entrypoints.http.bodies import idempotency_key, json_body, purpose
from services.intake.entrypoints.http.schema import RECORD_REF
from services.intake.service_layer.reads import RecordReads, UnopenedRecord, Unseen
from services.intake.service_layer.submissions import Rejected, Submissions
from shared.auth import Action, Principal
from shared.auth.dependencies import Authenticate, require
from shared.events import CaseRecord
from shared.http.direct_route import DirectRoute
from shared.http.problems import FieldError, ProblemError, ValidationProblem, data_keys_problem
from shared.notice_grants import MAX_LENGTH as GRANT_LENGTH

log = structlog.get_logger(__name__)

RECORD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": RECORD_REF}},
    },
    "parameters": [
        {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 200}}
    ],
}
PURPOSE = {"parameters": [{"name": "X-Purpose", "in": "header", "required": False, "schema": {"type": "string"}}]}


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id_number: str = Field(pattern=r"^[0-9]{17}[0-9Xx]$", description="Identity number to look up (kept out of URLs)")


def records_router(
    *, authenticate: Authenticate, submissions: Submissions, reads: RecordReads, max_body_bytes: int
) -> APIRouter:
    """The records' routes on one router, the submission first: an included router would be one more level
    for FastAPI to match on every POST, the route that carries the load (shared/runtime.py)."""
    router = APIRouter(prefix="/v1", tags=["records"])
    _add_submission(router, authenticate, submissions, max_body_bytes)
    _add_reads(router, authenticate, reads)
    _add_record_schema(router, authenticate)
    return router


def _add_submission(
    router: APIRouter, authenticate: Authenticate, submissions: Submissions, max_body_bytes: int
) -> None:
    async def submit_record(request: Request) -> JSONResponse:
        """Submit one case record (202 with its record and case ids), or a problem naming every bad field."""
        principal = await authenticate(request)  # called here, not as a dependency: see DirectRoute
        require(principal, Action.SUBMIT)
        key = idempotency_key(request)
        raw = await json_body(request, max_body_bytes)
        prepared = submissions.prepare(raw, principal, idempotency_key=key)
        if isinstance(prepared, Rejected):
            await submissions.note_rejections([prepared])
            raise _rejection(prepared, principal)
        outcome = await submissions.store_one(prepared)
        if outcome.status == "conflict":
            raise ProblemError(
                422, "Idempotency-Key reused", "This Idempotency-Key was already used for another record."
            )
        replayed = outcome.status == "duplicate"
        # said by the request's access line (shared/http/access.py), not a second line per POST
        structlog.contextvars.bind_contextvars(
            correlation_id=outcome.record_id,
            outcome="duplicate" if replayed else "accepted",
            case_version=outcome.case_version,
        )
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        warnings = {"warnings": list(prepared.warnings)} if prepared.warnings else {}
        return JSONResponse(outcome.answer(principal) | warnings, status_code=202, headers=headers)

    # the route that carries the load: FastAPI calls it directly, without solving dependencies per request
    router.add_api_route(
        "/records",
        submit_record,
        methods=["POST"],
        status_code=202,
        openapi_extra=RECORD_BODY,
        route_class_override=DirectRoute,
    )


def _add_reads(router: APIRouter, authenticate: Authenticate, reads: RecordReads) -> None:
    Caller = Annotated[Principal, Depends(authenticate)]

    @router.get("/records/{record_id}", openapi_extra=PURPOSE)
    async def read_record(
        record_id: str,
        request: Request,
        principal: Caller,
        notice: Annotated[
            str | None,
            Query(max_length=36, description="A notice about this record sent to the caller's office: opens it"),
        ] = None,
        grant: Annotated[
            str | None,
            Query(
                max_length=GRANT_LENGTH,
                description="The notice's grant, as its record_link carries it: opens the record "
                "even before intake has learnt the notice",
            ),
        ] = None,
    ) -> dict[str, Any]:
        require(principal, Action.READ)
        shown = await reads.one(principal, record_id, purpose=purpose(request), notice_id=notice, grant=grant)
        if isinstance(shown, Unseen):
            raise _unseen(shown)
        return shown

    @router.post("/records/search", openapi_extra=PURPOSE)
    async def search_records(query: SearchRequest, request: Request, principal: Caller) -> dict[str, Any]:
        require(principal, Action.READ)
        return {"records": await reads.of_person(principal, query.id_number, purpose=purpose(request))}

    @router.get("/records", openapi_extra=PURPOSE)
    async def list_records(
        request: Request,
        principal: Caller,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        require(principal, Action.READ)
        records = await reads.listing(principal, limit=limit, offset=offset, purpose=purpose(request))
        return {"records": records, "limit": limit, "offset": offset}


def _add_record_schema(router: APIRouter, authenticate: Authenticate) -> None:
    Caller = Annotated[Principal, Depends(authenticate)]

    @router.get("/schema/record", tags=["schema"])
    async def record_schema(principal: Caller) -> dict[str, Any]:
        """The JSON Schema of a case record (the same models every service uses)."""
        require(principal, Action.SUBMIT)
        return CaseRecord.model_json_schema()


def _rejection(rejected: Rejected, principal: Principal) -> ProblemError:
    if rejected.out_of_scope:
        return ProblemError(
            403, "Forbidden", f"Your key's scope ({principal.scope}) does not cover this reporting street."
        )
    log.info("record rejected", problems=len(rejected.problems))
    return ValidationProblem(
        [FieldError.at(location, message) for location, message in rejected.problems], title="The record is not valid"
    )


def _unseen(unseen: Unseen) -> ProblemError:
    # One answer for "missing" and "outside your scope": a 403 would tell a caller that the id exists.
    return ProblemError(404, "Not Found", "No record with this id that your key may read.")


def install_read_problems(app: FastAPI) -> None:
    """Answer a read that meets a record the deployment's data keys do not open as a 503 problem."""
    app.add_exception_handler(UnopenedRecord, _on_unopened)


async def _on_unopened(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UnopenedRecord)
    # bound, so the request's access line says it too; the record id and key id only, never its content
    structlog.contextvars.bind_contextvars(record_id=exc.record_id, data_key_id=exc.key_id)
    log.error("stored record does not open with the deployment's data keys", reason=exc.reason)
    return data_keys_problem(
        "The deployment's data keys do not open a stored record",
        str(exc),
        shown="the record",
        key_id=exc.key_id,
        record_id=exc.record_id,
    )
