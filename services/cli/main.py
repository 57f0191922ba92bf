"""`popflow`: run the system locally and operate it."""

from __future__ import annotations

import typer

from services.cli import dead_letters, keys
from services.cli.demo import demo
from services.cli.local import up
from services.intake.entrypoints.cli import import_file
from services.notification.entrypoints.cli import receiver
from services.reporting.entrypoints.cli import app as reporting_app
from services.routing.entrypoints.cli import app as routing_app

app = typer.Typer(help="PopFlow: floating-population census records, routed between offices.")
app.command(help="Start Kafka (unless KAFKA_BOOTSTRAP_SERVERS is set) and the four services.")(up)
app.command("import")(import_file)
app.command(help="Post believable demo records (Faker zh_CN) to a running PopFlow.")(demo)
app.add_typer(keys.app, name="keys")
app.add_typer(dead_letters.app, name="dead-letters")
app.add_typer(routing_app, name="routing")
app.add_typer(reporting_app, name="reporting")
app.command(help="Run a local webhook endpoint that checks signatures and prints each notice.")(receiver)


@app.callback()
def _root() -> None:
    """Keeps `up` a sub-command even while it is the only one."""


def main() -> None:
    app()
