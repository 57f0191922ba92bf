"""`popflow receiver`: a local webhook endpoint that checks signatures and prints each notice.

For a street office trying the push path (docs/notification.md), and for
tests. It answers 204 to a notice whose signature verifies, 401 otherwise,
so a wrong secret shows up as failed attempts in GET /v1/notices/{id}/deliveries.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console
from rich.panel import Panel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.notification.domain.payload import NOTICE_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from services.notification.domain.signing import verify

console = Console()


def receiver_app(secret: str) -> Starlette:
    async def hook(request: Request) -> Response:
        body = await request.body()
        headers = request.headers
        timestamp, sent = headers.get(TIMESTAMP_HEADER, ""), headers.get(SIGNATURE_HEADER, "")
        if not verify(secret, timestamp, body, sent, now_s=time.time()):
            console.print(f"[red]Refused[/] {headers.get(NOTICE_ID_HEADER, '?')}: signature does not verify")
            return Response(status_code=401)
        _show(json.loads(body))
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
    secret: Annotated[str, typer.Option(envvar="POPFLOW_RECEIVER_SECRET", help="The secret given with the webhook")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 9000,
) -> None:
    """Listen on http://127.0.0.1:PORT/ (and /hook) and print each signed notice."""
    console.print(f"Receiving notices on [bold]http://127.0.0.1:{port}/hook[/] (Ctrl-C stops)")
    uvicorn.run(receiver_app(secret), host="127.0.0.1", port=port, log_level="warning")
