"""`popflow receiver`: a local webhook endpoint that checks signatures and prints each notice.

For a street office trying the push path (docs/notification.md), and for
tests. It verifies with the `standardwebhooks` library, as an integrator's
receiver would, and answers 204 to a notice whose signature verifies, 401
otherwise, so a wrong secret shows up as failed attempts in
GET /v1/notices/{id}/deliveries.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console
from rich.panel import Panel
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.notification.domain.signing import key_of

console = Console()


def receiver_app(secret: str) -> Starlette:
    webhook = Webhook(secret)

    async def hook(request: Request) -> Response:
        body = await request.body()
        try:
            notice = webhook.verify(body, dict(request.headers))
        except (WebhookVerificationError, ValueError) as error:
            console.print(f"[red]Refused[/] {request.headers.get('webhook-id', '?')}: {error}")
            return Response(status_code=401)
        _show(notice)
        return Response(status_code=204)

    return Starlette(routes=[Route("/", hook, methods=["POST"]), Route("/hook", hook, methods=["POST"])])


def _show(notice: dict[str, Any]) -> None:
    person = notice.get("person", {})
    lines = [
        f"[bold]{notice.get('kind', '')}[/] notice {notice.get('notice_id')}  ({notice.get('route')})",
        f"{person.get('name')}  {person.get('id_number')}",
        f"{person.get('residence_address')}",
        f"{notice.get('reason')}",
        f"record: {notice.get('record_link')}",
    ]
    console.print(Panel("\n".join(lines), title=f"to {notice.get('recipient_code')}", subtitle="signature ok"))


def receiver(
    secret: Annotated[
        str, typer.Option(envvar="POPFLOW_RECEIVER_SECRET", help="The whsec_ secret given with the webhook")
    ],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 9000,
) -> None:
    """Listen on http://127.0.0.1:PORT/ (and /hook) and print each signed notice."""
    try:
        key_of(secret)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--secret") from None
    console.print(f"Receiving notices on [bold]http://127.0.0.1:{port}/hook[/] (Ctrl-C stops)")
    uvicorn.run(receiver_app(secret), host="127.0.0.1", port=port, log_level="warning")
