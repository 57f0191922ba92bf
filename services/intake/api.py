"""Intake's HTTP edge: accept a record, read it back."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.intake.adapters.outbox import OutboxRelay
from services.intake.adapters.repository import RecordRepository
from services.intake.adapters.tables import RecordRow
from services.intake.domain.validation import validate_record
from shared.directory import DivisionDirectory
from shared.events import CaseRecord, RecordSubmitted, new_envelope
from shared.http.problems import FieldError, problem, validation_problem
from shared.identity import person_key

log = structlog.get_logger(__name__)

RECORD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": CaseRecord.model_json_schema()}},
    }
}


def records_router(
    *,
    repository: RecordRepository,
    relay: OutboxRelay,
    directory: DivisionDirectory,
    key_secret: bytes,
    max_body_bytes: int,
) -> APIRouter:
    router = APIRouter(prefix="/v1/records", tags=["records"])

    @router.post("", status_code=202, openapi_extra=RECORD_BODY)
    async def submit_record(request: Request) -> JSONResponse:
        raw = await _json_body(request, max_body_bytes)
        if isinstance(raw, JSONResponse):
            return raw
        record, problems = validate_record(raw, directory)
        if record is None:
            log.info("record rejected", problems=len(problems))
            return validation_problem([FieldError.at(loc, msg) for loc, msg in problems])
        record_id = str(uuid.uuid4())
        received_at = datetime.now(UTC)
        event = RecordSubmitted(record_id=record_id, received_at=received_at, record=record)
        envelope = new_envelope(event, producer="intake", correlation_id=record_id)
        row = RecordRow(
            record_id=record_id,
            person_key=person_key(record.person.id_number, key_secret),
            reporting_street=record.reporting_street,
            residence_street=record.residence.street,
            record=record.model_dump(mode="json"),
            received_at=received_at,
        )
        await repository.add_with_event(row, envelope, topic=RecordSubmitted.TOPIC)
        relay.wake()
        structlog.contextvars.bind_contextvars(correlation_id=record_id)
        log.info("record accepted", event_id=str(envelope.event_id))
        return JSONResponse({"record_id": record_id, "status": "accepted"}, status_code=202)

    @router.get("/{record_id}")
    async def read_record(record_id: str) -> JSONResponse:
        row = await repository.get(record_id)
        if row is None:
            return problem(404, "Not Found", "No record with this id.")
        body: dict[str, Any] = {
            "record_id": row.record_id,
            "status": "routed" if row.route else "accepted",
            "route": row.route,
            "received_at": row.received_at.isoformat(),
            "record": row.record,
        }
        return JSONResponse(body)

    return router


async def _json_body(request: Request, limit: int) -> Any:
    content_type = request.headers.get("content-type", "")
    if not content_type.split(";")[0].strip().endswith(("/json", "+json")):
        return problem(415, "Unsupported Media Type", "Send the record as application/json.")
    body = await request.body()
    if len(body) > limit:
        return problem(413, "Content Too Large", f"A record may be at most {limit} bytes.")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return problem(400, "Malformed JSON", "The request body is not valid JSON.")
