"""`popflow up`: the whole system on one machine, in the foreground, for `make run`.

Starts Kafka (the project's own KRaft script) unless KAFKA_BOOTSTRAP_SERVERS
points at a cluster, prepares the databases (PostgreSQL when an admin URL is
given, SQLite files otherwise), starts the four services as child processes,
waits until each answers /readyz, prints their URLs, and on Ctrl-C, SIGTERM or
SIGHUP (its terminal closed, an ssh session dropped) stops the services first
and Kafka last, leaving no process behind. A signal
at any moment (during start-up too) stops what was started; a process that
dies stops everything and `up` exits 1, so a supervisor sees the failure.
With `--districts 440111,440106` it starts one such deployment per district,
side by side, exchanging with each other (services/cli/side_by_side.py).
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.cli.databases import choose_prefix, ensure_databases, sealed_elsewhere, topic_prefix
from services.cli.keys import DEFAULT_STORE
from services.cli.local_admin_key import print_admin_key_once, remember_key_store
from services.cli.local_ports import require_free, wanted_ports
from services.cli.local_processes import (
    ROOT,
    Children,
    StopSignals,
    child_name,
    start_kafka,
    stop_all,
    wait_for_stop,
    wait_ready,
)
from services.cli.side_by_side import (
    SERVICE_PORTS,
    LocalDeployment,
    parse_districts,
    side_by_side,
    urls_between_services,
)
from shared.sealing import Keyring, parse_keyring

SERVICES = SERVICE_PORTS
STORES = (*SERVICES, "keys")  # a deployment's databases: one per service and its key store
console = Console()


def up(
    pg_admin_url: Annotated[
        str | None,
        typer.Option(envvar="POPFLOW_PG_ADMIN_URL", help="PostgreSQL admin URL; SQLite when absent"),
    ] = None,
    kafka_port: Annotated[int, typer.Option(envvar="KAFKA_PORT")] = 9092,
    districts: Annotated[
        str | None,
        typer.Option(
            help="One deployment per district, side by side, exchanging with each other: e.g. 440111,440106 "
            "(one deployment serving several districts: POPFLOW_SERVED_DISTRICTS instead)"
        ),
    ] = None,
    state_dir: Annotated[
        Path, typer.Option(envvar="POPFLOW_STATE_DIR", help="With --districts: partners file, SQLite stores, keys")
    ] = ROOT / "var" / "side-by-side",
) -> None:
    try:
        codes = parse_districts(districts) if districts else []
    except ValueError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    env = dict(os.environ)
    env.setdefault("POPFLOW_PERSON_KEY_SECRET", _development_secret())
    env.setdefault("NOTIFICATION_WEBHOOK_ALLOW", "loopback,http")  # `popflow receiver` on 127.0.0.1
    # the key intake sealed with before the keyring keeps its id "intake", so old development data opens
    if "POPFLOW_DATA_KEYS" not in env:
        dev_key = _development_secret("dev-data-key", base64.b64encode(secrets.token_bytes(32)))
        env.update(POPFLOW_DATA_KEYS=f"intake:{dev_key}", POPFLOW_DATA_KEY_ID="intake")
    children: Children = {}  # in start order: Kafka (when ours) first
    signals = StopSignals()
    died: str | None = None
    try:
        signals.install()
        require_free(wanted_ports(env, codes, None if "KAFKA_BOOTSTRAP_SERVERS" in env else kafka_port))
        if "KAFKA_BOOTSTRAP_SERVERS" not in env:
            start_kafka(kafka_port, env, children, signals)
        prefix = "popflow_"
        if pg_admin_url:
            keyring = parse_keyring(env["POPFLOW_DATA_KEYS"], env.get("POPFLOW_DATA_KEY_ID") or None)
            prefix = _database_prefix(pg_admin_url, keyring)
            if prefix != "popflow_":  # the machine's broker holds the other checkout's topics and groups too
                env.setdefault("POPFLOW_TOPIC_PREFIX", topic_prefix(prefix))
        if codes:
            deployments = side_by_side(env, codes, state=state_dir, pg_admin_url=pg_admin_url, database_prefix=prefix)
        else:
            if pg_admin_url:
                # the key store goes to PostgreSQL too: every request of every service reads it
                for service, url in ensure_databases(pg_admin_url, [*SERVICES, "keys"], prefix=prefix).items():
                    variable = "POPFLOW_KEYS_DATABASE_URL" if service == "keys" else f"{service.upper()}_DATABASE_URL"
                    env.setdefault(variable, url)
            deployments = [LocalDeployment("", env)]
            for variable, url in urls_between_services(deployments[0]).items():
                env.setdefault(variable, url)  # a deployer's own (a record link's public address) stands
        if not codes and "POPFLOW_KEYS_DATABASE_URL" not in os.environ:  # chosen here: for `popflow keys` and demo
            remember_key_store(env.get("POPFLOW_KEYS_DATABASE_URL", DEFAULT_STORE))
        for deployment in deployments:
            for service in SERVICES:
                with signals.deferred():  # a child is never started without being recorded for the clean-up
                    children[child_name(deployment, service)] = subprocess.Popen(
                        [sys.executable, "-m", f"services.{service}"], env=deployment.env
                    )
        wait_ready(deployments, children, signals)
        _print_urls(deployments, env, pg_admin_url)
        for deployment in deployments:
            print_admin_key_once(deployment)
        died = wait_for_stop(children, signals)
    except KeyboardInterrupt:
        console.print("Stopping ...")
    finally:
        signals.ignore()  # a second Ctrl-C or SIGTERM must not cut the clean-up short
        stop_all(children)
    if died is not None:
        raise typer.Exit(1)


def _development_secret(name: str = "dev-person-key-secret", value: bytes | None = None) -> str:
    # Development only: random secrets kept under ./var so person keys and sealed data stay readable. Readable by
    # their owner alone, as var/key-store-url is: they open the personal data in the machine's shared PostgreSQL.
    path = ROOT / "var" / name
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(value or secrets.token_urlsafe(32).encode())
    path.chmod(0o600)  # a file an earlier run wrote under the umask
    return path.read_text().strip()


def _database_prefix(pg_admin_url: str, keyring: Keyring, *, marker: Path = ROOT / "var" / "database-prefix") -> str:
    """This checkout's databases (services/cli/databases.py, `choose_prefix`), kept in var/database-prefix; side by
    side, each district's are that prefix, the district and `_` (popflow_440111_intake in the first checkout)."""
    chosen = marker.read_text().strip() if marker.exists() else None

    def elsewhere(prefix: str) -> bool:  # the stores are read only on a checkout's first run, before it has chosen
        return sealed_elsewhere(pg_admin_url, prefix, STORES, keyring)

    prefix = choose_prefix(chosen=chosen, checkout=str(ROOT), sealed_elsewhere=elsewhere)
    if not chosen:
        marker.parent.mkdir(exist_ok=True)
        marker.write_text(prefix + "\n")
        if prefix != "popflow_":
            console.print(
                f"The popflow_* databases hold data sealed with other keys: this checkout uses {prefix}* and "
                f"topics {topic_prefix(prefix)}* (written to var/database-prefix). If the popflow_* data is this "
                "checkout's own, put back the POPFLOW_DATA_KEYS it was sealed with and delete var/database-prefix."
            )
    return prefix


def _print_urls(deployments: list[LocalDeployment], env: dict[str, str], pg_admin_url: str | None) -> None:
    table = Table(title="PopFlow is up (Ctrl-C stops everything)")
    if len(deployments) > 1:
        table.add_column("district")
    table.add_column("service")
    table.add_column("URL")
    table.add_column("API docs")
    for deployment in deployments:
        for service in SERVICES:
            row = [service, deployment.url(service), deployment.url(service) + "/docs"]
            table.add_row(*([deployment.name] if len(deployments) > 1 else []), *row)
    console.print(table)
    partners_file = Path(deployments[0].env.get("NOTIFICATION_PARTNERS_FILE", "./var"))
    store = "PostgreSQL" if pg_admin_url else f"SQLite ({partners_file.parent if len(deployments) > 1 else './var'})"
    console.print(f"Kafka: {env['KAFKA_BOOTSTRAP_SERVERS']}   store: {store}")
    for deployment in deployments:
        console.print(_pages(deployment), soft_wrap=True)
    if len(deployments) > 1:  # side by side: each district is the others' exchange partner
        console.print(f"Exchange partners: {partners_file}")


def _pages(deployment: LocalDeployment) -> str:
    """The two pages a person opens in a browser, in no table of APIs, each with the kind of key it takes."""
    whose = f"{deployment.name}: " if deployment.name else ""
    return (
        f"{whose}dashboard {deployment.url('reporting')}/dashboard (a district or admin key)   "
        f"street office page {deployment.url('notification')}/office (a street's office key)"
    )
