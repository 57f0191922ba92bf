"""`popflow`: run the system locally and operate it."""

from __future__ import annotations

import sys
from importlib.metadata import version
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from services.cli import dead_letters, keys
from services.cli.demo import demo
from services.cli.local import up
from services.cli.unreachable import CONNECTION_ERRORS, SETTINGS_REFUSED, UNREACHABLE, one_line, refused_settings
from services.intake.entrypoints.cli import import_file
from services.notification.entrypoints.cli import exchange_app, receiver
from services.reporting.entrypoints.cli import app as reporting_app
from services.routing.entrypoints.cli import app as routing_app

app = typer.Typer(
    help="PopFlow: floating-population census records, routed between offices.",
    pretty_exceptions_show_locals=False,  # locals may hold API keys and database URLs
)
app.command(help="Start Kafka (unless KAFKA_BOOTSTRAP_SERVERS is set) and the four services.")(up)
app.command("import")(import_file)
app.command(help="Post believable demo records (Faker zh_CN) to a running PopFlow.")(demo)
app.add_typer(keys.app, name="keys")
app.add_typer(dead_letters.app, name="dead-letters")
app.add_typer(routing_app, name="routing")
app.add_typer(reporting_app, name="reporting")
app.add_typer(exchange_app, name="exchange")
app.command(help="Run a local webhook endpoint that checks signatures and prints each notice.")(receiver)


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
    except CONNECTION_ERRORS as error:
        Console(stderr=True).print(f"[red]popflow:[/] {one_line(error)}", soft_wrap=True)
        sys.exit(UNREACHABLE)
    except ValidationError as error:
        line = refused_settings(error)
        if line is None:
            raise
        # the line as text, not markup: a setting's message may hold brackets
        Console(stderr=True).print(Text.assemble(("popflow:", "red"), " ", line), soft_wrap=True, highlight=False)
        sys.exit(SETTINGS_REFUSED)
