"""`popflow`: run the system locally and operate it.

Each command's module is imported only when that command runs (services/cli/lazy.py): `popflow --help`
imports none of them, `popflow import` only intake's.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Annotated

import typer

from services.cli.lazy import LazyCommand, LazyGroup


class PopflowCommands(LazyGroup):
    # in the order `popflow --help` lists them: the commands, then the groups
    lazy_commands = (
        LazyCommand(
            "up",
            "services.cli.local:up",
            "Start Kafka (unless KAFKA_BOOTSTRAP_SERVERS is set) and the four services.",
            gives_help=True,
        ),
        LazyCommand(
            "import",
            "services.intake.entrypoints.cli:import_file",
            "Import FILE through intake; rejected rows go beside it, NAME.rejected.csv (or .xlsx, .ndjson).",
        ),
        LazyCommand(
            "demo",
            "services.cli.demo:demo",
            "Post believable demo records (Faker zh_CN) to a running PopFlow.",
            gives_help=True,
        ),
        LazyCommand(
            "receiver",
            "services.notification.entrypoints.cli:receiver",
            "Run a local webhook endpoint that checks signatures and prints each notice.",
            gives_help=True,
        ),
        LazyCommand(
            "keys",
            "services.cli.keys:app",
            "API keys: a scope (street:CODE, district:CODE, admin) and a role; shown once, stored hashed.",
        ),
        LazyCommand(
            "dead-letters",
            "services.cli.dead_letters:app",
            "The dead-letter topic: what could never be handled, and why.",
        ),
        LazyCommand("routing", "services.routing.entrypoints.cli:app", "Routing: rebuild its store from the topics."),
        LazyCommand(
            "reporting", "services.reporting.entrypoints.cli:app", "Reporting: rebuild the store from the topics."
        ),
        LazyCommand(
            "exchange",
            "services.notification.entrypoints.cli:exchange_app",
            "The inter-district exchange between deployments (docs/exchange.md).",
        ),
    )


app = typer.Typer(
    cls=PopflowCommands,
    help="PopFlow: floating-population census records, routed between offices.",
    pretty_exceptions_show_locals=False,  # locals may hold API keys and database URLs
)


def _show_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"popflow {version('popflow')}")
        raise typer.Exit


@app.callback()
def _root(
    _version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """PopFlow: floating-population census records, routed between offices."""


def main() -> None:
    try:
        app()
    except Exception as error:
        # imported here: the error classes come from httpx, Kafka, asyncpg and SQLAlchemy, which a command
        # that raised one has imported already, and which `popflow --help` should not import
        from services.cli.unreachable import exit_on_known

        exit_on_known(error)
        raise
