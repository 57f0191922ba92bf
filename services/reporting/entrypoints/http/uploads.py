"""Registers uploaded as a sheet (CSV or XLSX): read bounded, each line checked like the JSON body.

A problem with the file is a 400 (413 when too large, 415 when neither CSV
nor XLSX); wrong lines are one 422 naming every cell as /lines/<line>/<field>,
the line of the file, never its content.
"""

import asyncio
from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from services.reporting.adapters.sheet_files import MAX_BYTES, XLSX, SheetProblem, UnsupportedMedia, read_sheet
from services.reporting.domain.registers import line_fields
from shared.http.limits import declares_more_than
from shared.http.problems import FieldError, ProblemError, ValidationProblem, pydantic_errors

Model = TypeVar("Model", bound=BaseModel)

SHEET_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def sheet_lines(request: Request, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """The lines of an uploaded register (CSV or XLSX), bounded; 413/415/400 problems otherwise."""
    if declares_more_than(request.headers.get("content-length", ""), MAX_BYTES):
        raise ProblemError(413, "Content Too Large", f"A register file may be at most {MAX_BYTES} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BYTES:
            raise ProblemError(413, "Content Too Large", f"A register file may be at most {MAX_BYTES} bytes.")
    media_type = request.headers.get("content-type", "")
    try:
        # parsing a workbook is CPU work: off the event loop, like intake's bulk files
        return await asyncio.to_thread(read_sheet, bytes(body), media_type, required)
    except SheetProblem as problem:
        status = 415 if isinstance(problem, UnsupportedMedia) else 400
        raise ProblemError(status, "The register cannot be read", str(problem)) from None


def lines_as(
    model: type[Model], lines: list[tuple[int, dict[str, str]]], columns: dict[str, str]
) -> list[tuple[int, Model]]:
    """(line number, line) checked as `model`; one 422 listing every wrong cell as /lines/<line number>/<field>."""
    found, errors = [], []
    for number, cells in lines:
        try:
            found.append((number, model.model_validate(line_fields(cells, columns))))
        except ValidationError as error:
            errors += pydantic_errors([{**e, "loc": ("lines", number, *e["loc"])} for e in error.errors()], strip=0)
    if errors:
        raise ValidationProblem(errors)
    if not found:
        raise ValidationProblem([FieldError.at(("lines",), "the register has no line under its header")])
    return found
