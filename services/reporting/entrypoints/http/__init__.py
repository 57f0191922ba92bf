"""Reporting's HTTP edge: one router per resource; a use case's refusal answered once, as a problem."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.reporting.service_layer.errors import Conflict, Invalid, NotFound, Unavailable, UseCaseError
from shared.http.problems import FieldError, ProblemError, ValidationProblem

# a sign-off step refused: the problem's `reason` member names why (domain.signoff.Refusal, docs/reporting.md)
SIGNOFF_REFUSED = "https://popflow.example/problems/signoff-refused"


def as_problem(error: UseCaseError) -> ProblemError:
    if isinstance(error, Invalid):
        # the names are paths the use cases built ("areas/0/staff_id"), pointers already but for the first '/'
        return ValidationProblem([FieldError(pointer=f"/{name}" if name else "", detail=m) for name, m in error.errors])
    if isinstance(error, NotFound):
        return ProblemError(404, "Not Found", error.detail)
    if isinstance(error, Conflict):
        if error.reason is not None:  # the detail says it in English, `reason` says it for a program
            return ProblemError(409, "Conflict", error.detail, type=SIGNOFF_REFUSED, reason=error.reason)
        return ProblemError(409, "Conflict", error.detail)
    if isinstance(error, Unavailable):
        return ProblemError(503, "Service Unavailable", error.detail)
    return ProblemError(422, "Unprocessable Entity", error.detail)


async def _on_use_case_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, UseCaseError)
    return as_problem(error).response()


def install_use_case_errors(app: FastAPI) -> None:
    """Answer every use case's refusal (service_layer/errors.py) as its problem document."""
    app.add_exception_handler(UseCaseError, _on_use_case_error)
