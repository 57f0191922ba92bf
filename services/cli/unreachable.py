"""What `popflow` prints when a service, the database or Kafka cannot be reached: one line, exit 3;
and when the environment's settings are refused (one missing, one malformed): one line, exit 4.

Every command that talks HTTP, to a database or to Kafka runs under `main()`,
which turns these errors into that line instead of a traceback. Other
errors keep their traceback (without local variables: they may hold keys).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx
from aiokafka.errors import KafkaConnectionError
from asyncpg.exceptions import (
    CannotConnectNowError,
    InvalidAuthorizationSpecificationError,
    InvalidCatalogNameError,
    PostgresConnectionError,
    TooManyConnectionsError,
)
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from services.cli.databases import topic_prefix
from shared.db.errors import is_refused_for_good

CHECKOUT = Path(__file__).resolve().parents[2]
UNREACHABLE = 3  # exit code; 1 and 2 keep their per-command meaning (import: 1 rows rejected, 2 refused)
SETTINGS_REFUSED = 4
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    httpx.TransportError,
    ConnectionError,
    socket.gaierror,
    TimeoutError,
    KafkaConnectionError,
    OperationalError,
    InterfaceError,
)
# the database refusing a connection, met by code that connects with asyncpg itself (`popflow up` creating
# its databases): a wrong password or user, no such database, a server starting or full
DATABASE_REFUSALS: tuple[type[BaseException], ...] = (
    PostgresConnectionError,
    InvalidAuthorizationSpecificationError,
    InvalidCatalogNameError,
    CannotConnectNowError,
    TooManyConnectionsError,
)
CONNECTION_ERRORS += DATABASE_REFUSALS


def one_line(error: BaseException) -> str:
    """`cannot reach <where>: <why>`, short and without a traceback."""
    if isinstance(error, httpx.TransportError):
        try:
            where = str(error.request.url.copy_with(query=None))
        except RuntimeError:  # no request attached
            where = "the service"
        return f"cannot reach {where}: {_reason(error)}"
    if isinstance(error, DBAPIError):  # OperationalError, InterfaceError; or a password or database refused
        return f"cannot use the database: {_reason(error.orig or error)}"
    if isinstance(error, DATABASE_REFUSALS):
        return f"cannot use the database: {_reason(error)}"
    if isinstance(error, KafkaConnectionError):
        return f"cannot reach Kafka: {_reason(error)}"
    return f"cannot connect: {_reason(error)}"


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0][:200] if text else "") or type(error).__name__


def refused_settings(error: ValidationError, checkout: Path = CHECKOUT) -> str | None:
    """`settings refused: NAME: why; ...` for the settings a command read from the environment (each by its
    variable's name, never its value); None for any other validation error (it keeps its traceback)."""
    if not error.title.endswith("Settings"):
        return None
    found = error.errors(include_input=False, include_url=False, include_context=False)
    problems = [f"{'.'.join(str(part) for part in e['loc']) or '(all)'}: {e['msg']}" for e in found]
    missing = {str(e["loc"][0]) for e in found if e["type"] == "missing" and e["loc"]}
    said = f"settings refused: {'; '.join(problems)} (docs/settings.md lists every setting)"
    return said + _make_runs_secrets(missing, checkout / "var")


def _make_runs_secrets(missing: set[str], var: Path) -> str:
    """In a checkout where `make run` made its development secrets: how to give them to this command (the
    files' names, never what they hold), and the topics of a checkout that `make run` gave a prefix of its own."""
    if not missing & {"POPFLOW_DATA_KEYS", "POPFLOW_PERSON_KEY_SECRET"} or not (var / "dev-data-key").is_file():
        return ""
    settings = [f"POPFLOW_DATA_KEYS=intake:$(cat {var}/dev-data-key)"]
    settings.append(f"POPFLOW_PERSON_KEY_SECRET=$(cat {var}/dev-person-key-secret)")
    try:
        prefix = (var / "database-prefix").read_text(encoding="utf-8").strip()
    except OSError:
        prefix = ""
    if prefix and prefix != "popflow_":
        settings.append(f"POPFLOW_TOPIC_PREFIX={topic_prefix(prefix)}")
    return f"; for the system `make run` started in this checkout: {' '.join(settings)} popflow ..."


def exit_on_known(error: Exception) -> None:
    """Exit with one line for an error above (UNREACHABLE, SETTINGS_REFUSED); return for any other."""
    if isinstance(error, CONNECTION_ERRORS) or (isinstance(error, DBAPIError) and is_refused_for_good(error)):
        Console(stderr=True).print(f"[red]popflow:[/] {one_line(error)}", soft_wrap=True)
        sys.exit(UNREACHABLE)
    if isinstance(error, ValidationError) and (line := refused_settings(error)) is not None:
        # the line as text, not markup: a setting's message may hold brackets
        Console(stderr=True).print(Text.assemble(("popflow:", "red"), " ", line), soft_wrap=True, highlight=False)
        sys.exit(SETTINGS_REFUSED)
