"""`popflow demo`: post believable demo records to a running PopFlow (e.g. `make run`)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from shared.directory import load_directory
from shared.progress import progress

console = Console()


def demo(
    key: Annotated[str, typer.Option(envvar="POPFLOW_API_KEY", help="An admin or district key (make run prints one)")],
    count: Annotated[int, typer.Option(min=1, max=100_000, help="How many records")] = 200,
    district: Annotated[str, typer.Option(help="The district the streets report from")] = "440111",
    seed: Annotated[int, typer.Option(help="Same seed, same records")] = 7,
    intake: Annotated[str, typer.Option(help="Intake's base URL")] = "http://127.0.0.1:8001",
) -> None:
    """Generate records with Faker's zh_CN provider and send them through the bulk endpoint."""
    try:
        from services.cli.demo_records import demo_records  # Faker is the optional `demo` extra
    except ModuleNotFoundError:
        console.print("[red]popflow demo needs the demo extra:[/] pip install 'popflow[demo]' (make install has it)")
        raise typer.Exit(2) from None
    records = demo_records(count, load_directory(), district=district, seed=seed)
    statuses = _send(records, intake=intake, key=key)
    console.print(f"sent {count} demo records: " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
    console.print("Watch them: routing http://127.0.0.1:8002/docs, reports http://127.0.0.1:8004/dashboard")


def _send(records: list[dict[str, Any]], *, intake: str, key: str) -> Counter[str]:
    """Post through the bulk endpoint, reading its per-row results as they stream back (NDJSON)."""
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/x-ndjson"}
    statuses: Counter[str] = Counter()
    with (
        progress("Sending demo records", unit="records", total=len(records)) as advance,
        httpx.stream("POST", f"{intake}/v1/records/bulk", json=records, headers=headers, timeout=600) as response,
    ):
        if response.status_code >= 400:
            console.print(f"[red]intake answered {response.status_code}[/]: {response.read()[:500].decode()}")
            raise typer.Exit(1)
        for line in response.iter_lines():
            result = json.loads(line) if line.strip() else {}
            if "status" in result:
                statuses[result["status"]] += 1
                advance(1)
    return statuses
