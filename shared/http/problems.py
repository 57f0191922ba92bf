"""RFC 9457 problem documents for every error a service answers.

Validation errors list every bad field as a JSON pointer with a message a
clerk can act on. No message echoes the submitted value: it may be an
identity number or a name.
"""

from __future__ import annotations

import socket
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.db.errors import constraint_of, is_data_error, is_raced, is_rolled_back, is_unavailable, sqlstate_of
from shared.sealing import SealError

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger(__name__)


def json_pointer(location: tuple[str | int, ...]) -> str:
    """RFC 6901: each step with '~' written '~0' and '/' written '~1'; the whole document is ''."""
    return "".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in location)


class FieldError(dict[str, str]):
    """{"pointer": "/person/id_number", "detail": "..."}"""

    @classmethod
    def at(cls, location: tuple[str | int, ...], detail: str) -> FieldError:
        return cls(pointer=json_pointer(location), detail=detail)


class ProblemError(Exception):
    """Raised anywhere a request cannot be answered; rendered once as a problem document.

    `detail` and `extra` are shown to the caller: never put personal data in them.
    """

    def __init__(self, status: int, title: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.detail = detail
        self.extra = extra

    def response(self) -> JSONResponse:
        return problem(self.status, self.title, self.detail, **self.extra)


class ValidationProblem(ProblemError):
    """422 listing every bad field as a JSON pointer; `title` names what was sent (a record, by intake)."""

    def __init__(self, errors: list[FieldError], title: str = "The request is not valid") -> None:
        noun, them = ("field is", "it") if len(errors) == 1 else ("fields are", "them")
        super().__init__(
            422,
            title,
            f"{len(errors)} {noun} wrong; correct {them} and submit again.",
            type="https://popflow.example/problems/validation",
            errors=errors,
        )


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def validation_problem(errors: list[FieldError]) -> JSONResponse:
    return ValidationProblem(errors).response()


def pydantic_errors(raw: list[Any], *, strip: int = 1) -> list[FieldError]:
    """Field errors from pydantic's list, without the input values it carries."""
    return [FieldError.at(tuple(e["loc"][strip:]), _clerk_message(e)) for e in raw]


def _clerk_message(error: Any) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of this request; remove it"
    if kind == "json_invalid":
        return "the body is not valid JSON"
    message = str(error.get("msg", "is not valid"))
    return message.removeprefix("Value error, ")


async def _on_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return problem(400, "Malformed JSON", "The request body is not valid JSON.")
    return validation_problem(pydantic_errors(list(exc.errors())))


async def _on_problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return exc.response()


async def _on_http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, _title(exc.status_code), str(exc.detail))


RETRY_AFTER_S = 5


def store_unavailable() -> JSONResponse:
    """503 with Retry-After: the database (or another store) cannot be reached just now."""
    return _retry_later(
        "A store this service needs is not reachable just now; nothing was accepted. Retry later.", RETRY_AFTER_S
    )


def _retry_later(detail: str, after_s: int) -> JSONResponse:
    """503 with Retry-After: nothing of the request was applied, and the same request may pass later."""
    response = problem(503, "Service Unavailable", detail)
    response.headers["Retry-After"] = str(after_s)
    return response


async def _on_store_error(request: Request, exc: Exception) -> JSONResponse:
    """Database errors: a store that is down, or that ended the write to let another go on, is a 503; values it
    refuses a 422; a write that clashed with one stored at the same moment a 409; anything else a 500."""
    if is_unavailable(exc):
        log.warning("store unavailable", error=type(exc).__name__, path=request.url.path)
        return store_unavailable()
    if is_rolled_back(exc):
        # a deadlock or a serialization failure: the store ended this write so that another could go on, and
        # kept nothing of it. The write paths that meet them retry first (intake's batches); what is left over
        # is worth sending again as it is, as for a store that is down
        log.warning("store ended the write for another's sake", sqlstate=sqlstate_of(exc), path=request.url.path)
        return _retry_later(
            "This request met another writing the same data at the same moment; nothing of it was applied. "
            "Send it again as it is.",
            1,
        )
    if is_raced(exc):
        # the store's message quotes the key's values: the constraint's name only. An error, not a warning:
        # a use case that expected the clash answers it itself, so this one may be a bug as well as a race
        log.error("write clashed with a stored row", constraint=constraint_of(exc), path=request.url.path)
        return problem(
            409,
            "Conflict",
            "This clashes with something stored, perhaps by another request at the same moment, and was not "
            "applied. Read the current state before sending it again.",
        )
    if is_data_error(exc):
        # a door let through a value the column cannot take: the caller's data, never a 500
        log.error("store refused the values", error=type(exc).__name__, path=request.url.path)
        return problem(422, "Unprocessable Content", "A value is longer or larger than this service can store.")
    return await _on_unexpected(request, exc)


DATA_KEYS_PROBLEM = "https://popflow.example/problems/data-keys"


def data_keys_problem(title: str, what: str, *, shown: str, key_id: str | None, **extra: Any) -> JSONResponse:
    """The 503 for stored data the deployment's data keys do not open: `what` went wrong, the operator's part in
    it, and that nothing of `shown` was shown."""
    return problem(
        503,
        title,
        f"{what}. The deployment's data keys are at fault, not this request: tell its operator, who should list "
        f"the key it was sealed with in POPFLOW_DATA_KEYS (docs/security.md). Nothing of {shown} was shown.",
        type=DATA_KEYS_PROBLEM,
        key_id=key_id,
        **extra,
    )


async def _on_unopened(request: Request, exc: Exception) -> JSONResponse:
    """Stored data the deployment's data keys do not open (a key id dropped from POPFLOW_DATA_KEYS, another key
    under its id): the deployment's fault, not the request's, so a 503 that says so instead of a 500. A route
    that meets a sealed value in the request itself answers it on its own (a 4xx); this is for what is stored."""
    assert isinstance(exc, SealError)
    # the key id and the error's kind only: the message of a malformed value could quote it
    structlog.contextvars.bind_contextvars(data_key_id=exc.key_id)
    log.error("stored data does not open with the deployment's data keys", error=type(exc).__name__)
    return data_keys_problem(
        "The deployment's data keys do not open stored data",
        str(exc) if exc.key_id is not None else "A stored value does not open",
        shown="it",
        key_id=exc.key_id,
    )


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    if is_unavailable(exc):
        return store_unavailable()
    log.exception("unhandled error", error=type(exc).__name__)
    return problem(500, "Internal error", "Something went wrong on our side; nothing was lost.")


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of `app` as application/problem+json."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    # Handled here (not in the catch-all below, which Starlette re-raises into the server's log
    # as a crash): connection failures of the store are expected during a restart.
    for store_error in (DBAPIError, PoolTimeout, ConnectionError, TimeoutError, socket.gaierror):
        app.add_exception_handler(store_error, _on_store_error)
    app.add_exception_handler(SealError, _on_unopened)
    app.add_exception_handler(Exception, _on_unexpected)
