"""The ports `popflow up` will listen on, each checked free before anything starts.

Apart from the command (services/cli/local.py): a port taken (a PopFlow still
running, say) or named twice is refused up front, before any child is
started, naming its owner and the variable that sets it.
"""

from __future__ import annotations

import socket

import typer
from rich.console import Console
from rich.markup import escape

from services.cli.side_by_side import SERVICE_PORTS as SERVICES
from services.cli.side_by_side import district_ports

console = Console()


def wanted_ports(env: dict[str, str], codes: list[str], kafka_port: int | None) -> dict[str, tuple[str, int]]:
    """What each listener of this `up` will bind, by who and with which variable: (host, port)."""
    wanted: dict[str, tuple[str, int]] = {}
    if kafka_port is not None:
        controller = port_number("KAFKA_CONTROLLER_PORT", env.get("KAFKA_CONTROLLER_PORT", str(kafka_port + 1)))
        wanted |= {"Kafka (KAFKA_PORT)": ("127.0.0.1", kafka_port)}
        wanted |= {"Kafka's controller (KAFKA_CONTROLLER_PORT)": ("127.0.0.1", controller)}
    for service in SERVICES:  # each set one a port before the districts' are counted from it
        if (variable := f"{service.upper()}_PORT") in env:
            port_number(variable, env[variable])
    for n, code in enumerate(codes or [""]):
        ports = district_ports(env, n)
        for service in SERVICES:
            variable = f"{service.upper()}_PORT"
            owner = f"{code}/{service}" if code else service
            host = env.get(f"{service.upper()}_HOST", "127.0.0.1")
            wanted[f"{owner} ({variable})"] = (host, port_number(variable, str(ports[variable])))
    return wanted


def port_number(variable: str, text: str) -> int:
    """The port `variable` names; exit 2 saying so when it names none (a typo in .env was a traceback)."""
    if text.strip().isascii() and text.strip().isdigit() and 0 < int(text) < 65536:
        return int(text)
    console.print(f"[red]{variable} must be a port number (1-65535)[/], not {escape(repr(text[:20]))}")
    raise typer.Exit(2)


def require_free(wanted: dict[str, tuple[str, int]]) -> None:
    """Exit 1 naming each port already taken (a PopFlow still running, say) or named twice, before anything
    listens on it."""
    taken: list[str] = []
    seen: dict[tuple[str, int], str] = {}
    for owner, (host, port) in wanted.items():
        if (host, port) in seen:
            taken.append(f"{port} for both {seen[host, port]} and {owner}")
            continue
        seen[host, port] = owner
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a port in TIME_WAIT is free
            try:
                sock.bind((host, port))
            except OSError:
                taken.append(f"{port} for {owner}")
    if taken:
        listed = ", ".join(taken)
        console.print(f"[red]Port in use:[/] {listed}. Is PopFlow already running? Stop it or choose other ports.")
        raise typer.Exit(1)
