"""`popflow`: run the system locally and operate it."""

from __future__ import annotations

import typer

from services.cli.local import up
from services.notification.cli import receiver

app = typer.Typer(help="PopFlow: floating-population census records, routed between offices.")
app.command(help="Start Kafka (unless KAFKA_BOOTSTRAP_SERVERS is set) and the four services.")(up)
app.command(help="Run a local webhook endpoint that checks signatures and prints each notice.")(receiver)


@app.callback()
def _root() -> None:
    """Keeps `up` a sub-command even while it is the only one."""


def main() -> None:
    app()
