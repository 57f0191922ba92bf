"""`popflow receiver`: a local webhook endpoint that checks signatures and prints each notice;
`popflow exchange keygen`: this deployment's exchange key pairs and the entry partners add for it.

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

from services.notification.domain.exchange_crypto import new_key_pairs
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
        f"record: {notice.get('record_link') or '(kept by the district that sent it)'}",
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


exchange_app = typer.Typer(help="The inter-district exchange between deployments (docs/exchange.md).")


@exchange_app.command()
def keygen(
    name: Annotated[str, typer.Option(help="This deployment's name in partners' files")] = "our-district",
    prefix: Annotated[list[str] | None, typer.Option(help="A district this deployment serves (repeatable)")] = None,
    url: Annotated[str, typer.Option(help="Our notification's public base URL (https partners)")] = (
        "https://popflow.example.gov.cn:8003"
    ),
) -> None:
    """Print a fresh signing and sealing key pair: the private halves for our environment, the public ones
    as the [[partners]] entry every partner adds to its partners file."""
    keys = new_key_pairs()
    prefixes = ", ".join(f'"{p}"' for p in (prefix or ["440111"]))
    typer.echo(
        "# This deployment's environment (secret: keep it out of files others read):\n"
        f"NOTIFICATION_EXCHANGE_SIGNING_KEY={keys['signing_key']}\n"
        f"NOTIFICATION_EXCHANGE_SEALING_KEY={keys['sealing_key']}\n\n"
        "# For each partner's partners file (public):\n"
        f'[[partners]]\nname = "{name}"\nprefixes = [{prefixes}]\ntransport = "https"\nurl = "{url}"\n'
        f'verify_key = "{keys["verify_key"]}"\nseal_key = "{keys["seal_key"]}"'
    )
