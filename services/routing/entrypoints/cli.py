"""`popflow routing ...`: operating routing from the command line."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from services.routing.bootstrap import rebuild_into
from services.routing.service_layer.rebuild import StoreNotEmpty
from services.routing.settings import RoutingSettings
from shared.logging import configure_service_logging
from shared.progress import progress

app = typer.Typer(help="Routing: rebuild its store from the topics.", no_args_is_help=True)


@app.command("rebuild")
def rebuild_command(
    into: Annotated[
        str,
        typer.Option(envvar="ROUTING_REBUILD_DATABASE_URL", help="SQLAlchemy URL of an empty database to rebuild into"),
    ],
) -> None:
    """Replay records.submitted, reviews.resolved and notices.answered together, in the order they happened,
    from the start into a fresh store.

    Reads the usual settings (KAFKA_BOOTSTRAP_SERVERS, POPFLOW_TOPIC_PREFIX,
    ROUTING_*); publishes nothing. Point ROUTING_DATABASE_URL at the new store afterwards.
    """
    settings = RoutingSettings()
    configure_service_logging("routing-rebuild", settings)
    try:
        with progress("Replaying into the new store", unit="events") as advance:
            replayed = asyncio.run(rebuild_into(settings, into=into, on_message=lambda: advance(1)))
    except StoreNotEmpty as error:
        typer.echo(f"refused: {error}", err=True)
        raise typer.Exit(2) from error
    for topic, counts in replayed.items():
        typer.echo(f"{topic}: {counts.applied} applied, {counts.refused} refused")
