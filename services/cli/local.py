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

import asyncio
import base64
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import make_url

from services.cli.databases import choose_prefix, ensure_databases, sealed_elsewhere
from services.cli.keys import DEFAULT_STORE, create_key, open_store, remember_store
from services.cli.side_by_side import SERVICE_PORTS, LocalDeployment, district_ports, parse_districts, side_by_side
from shared.sealing import Keyring, parse_keyring

ROOT = Path(__file__).resolve().parents[2]
SERVICES = SERVICE_PORTS
console = Console()
Children = dict[str, subprocess.Popen[bytes]]


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
        _require_free(_wanted_ports(env, codes, None if "KAFKA_BOOTSTRAP_SERVERS" in env else kafka_port))
        if "KAFKA_BOOTSTRAP_SERVERS" not in env:
            _start_kafka(kafka_port, env, children, signals)
        if codes:
            deployments = side_by_side(env, codes, state=state_dir, pg_admin_url=pg_admin_url)
        else:
            if pg_admin_url:
                # the key store goes to PostgreSQL too: every request of every service reads it
                keyring = parse_keyring(env["POPFLOW_DATA_KEYS"], env.get("POPFLOW_DATA_KEY_ID") or None)
                prefix = _database_prefix(pg_admin_url, keyring)
                if prefix != "popflow_":  # the machine's broker holds the other checkout's topics and groups too
                    env.setdefault("POPFLOW_TOPIC_PREFIX", _topic_prefix(prefix))
                for service, url in ensure_databases(pg_admin_url, [*SERVICES, "keys"], prefix=prefix).items():
                    variable = "POPFLOW_KEYS_DATABASE_URL" if service == "keys" else f"{service.upper()}_DATABASE_URL"
                    env.setdefault(variable, url)
            deployments = [LocalDeployment("", env)]
        if not codes and "POPFLOW_KEYS_DATABASE_URL" not in os.environ:  # chosen here: for `popflow keys` and demo
            _remember_key_store(env.get("POPFLOW_KEYS_DATABASE_URL", DEFAULT_STORE))
        for deployment in deployments:
            for service in SERVICES:
                with signals.deferred():  # a child is never started without being recorded for the clean-up
                    children[_child(deployment, service)] = subprocess.Popen(
                        [sys.executable, "-m", f"services.{service}"], env=deployment.env
                    )
        _wait_ready(deployments, children, signals)
        _print_urls(deployments, env, pg_admin_url)
        for deployment in deployments:
            _print_admin_key_once(deployment)
        died = _wait_for_stop(children, signals)
    except KeyboardInterrupt:
        console.print("Stopping ...")
    finally:
        signals.ignore()  # a second Ctrl-C or SIGTERM must not cut the clean-up short
        _stop(children)
    if died is not None:
        raise typer.Exit(1)


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP become KeyboardInterrupt, except inside `deferred()`, where they wait for its end.

    SIGHUP too: Kafka runs in a session of its own, which a closed terminal does not reach; `up` killed by the
    hang-up would leave it running, holding its port and data folder. The services share `up`'s process group,
    get the hang-up too and stop on it as on SIGTERM (shared/serving.py), so `_stop`'s SIGTERM finds them stopping."""

    STOP = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self._requested = False
        self._deferring = 0

    def install(self) -> None:
        for stop in self.STOP:
            signal.signal(stop, self._on_signal)

    def ignore(self) -> None:
        for stop in self.STOP:
            signal.signal(stop, signal.SIG_IGN)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        self.raise_if_asked()

    def raise_if_asked(self) -> None:
        """KeyboardInterrupt if a stop was asked for (outside `deferred()`): at its end, in the handler, and in the
        waiting loops, which look at each turn. Python runs
        a signal's handler between any two bytecodes, also inside a weakref callback or a `__del__` (an import's
        module lock, a client being collected), where the KeyboardInterrupt it raises is printed as "Exception
        ignored" and goes no further: `up` started the services all the same and ran on (CI of round 44)."""
        if self._requested and not self._deferring:
            raise KeyboardInterrupt

    def _on_signal(self, _signum: int, _frame: object) -> None:
        self._requested = True
        self.raise_if_asked()


def _wait_for_stop(children: Children, signals: StopSignals) -> str:
    """Until Ctrl-C or SIGTERM (KeyboardInterrupt), or until a child dies: returns its name."""
    while True:
        signals.raise_if_asked()
        for name, child in children.items():
            if child.poll() is not None:
                console.print(f"[red]{name} exited ({child.returncode}); stopping the others.[/]")
                return name
        time.sleep(0.5)


def _development_secret(name: str = "dev-person-key-secret", value: bytes | None = None) -> str:
    # Development only: random secrets kept under ./var so person keys and sealed data stay readable.
    path = ROOT / "var" / name
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text((value or secrets.token_urlsafe(32).encode()).decode())
    return path.read_text().strip()


def _database_prefix(pg_admin_url: str, keyring: Keyring) -> str:
    """This checkout's databases (services/cli/databases.py, `choose_prefix`), kept in var/database-prefix."""
    marker = ROOT / "var" / "database-prefix"
    chosen = marker.read_text().strip() if marker.exists() else None

    def elsewhere(prefix: str) -> bool:  # the stores are read only on a checkout's first run, before it has chosen
        return sealed_elsewhere(pg_admin_url, [f"{prefix}{n}" for n in (*SERVICES, "keys")], keyring)

    prefix = choose_prefix(chosen=chosen, checkout=str(ROOT), sealed_elsewhere=elsewhere)
    if not chosen:
        marker.parent.mkdir(exist_ok=True)
        marker.write_text(prefix + "\n")
        if prefix != "popflow_":
            console.print(
                f"The popflow_* databases hold data sealed with other keys: this checkout uses {prefix}* and "
                f"topics {_topic_prefix(prefix)}* (written to var/database-prefix). If the popflow_* data is this "
                "checkout's own, put back the POPFLOW_DATA_KEYS it was sealed with and delete var/database-prefix."
            )
    return prefix


def _topic_prefix(database_prefix: str) -> str:
    """The topics and consumer groups that go with a checkout's databases: popflow_1a2b3c4d_ ->
    popflow.1a2b3c4d. (ending in a dot, like the default popflow.)."""
    return database_prefix.replace("_", ".")


def _child(deployment: LocalDeployment, service: str) -> str:
    return f"{deployment.name}/{service}" if deployment.name else service


def _print_admin_key_once(deployment: LocalDeployment) -> None:
    """On the first start (no admin key in the store yet) create one and show it, once: only its hash is kept."""
    url = deployment.env.get("POPFLOW_KEYS_DATABASE_URL", DEFAULT_STORE)

    async def has_admin() -> bool:
        store = await open_store(url)
        try:
            return any(k.scope == "admin" and k.revoked_at is None for k in await store.list_keys())
        finally:
            await store.engine.dispose()

    if asyncio.run(has_admin()):
        return
    _, key = asyncio.run(create_key(url, "admin", "local admin (make run)"))
    whose = f" of the {deployment.name} deployment" if deployment.name else ""
    console.print(
        f"[bold]Local admin API key{whose}[/] (shown this once, stored only as a hash; `popflow keys` makes more):"
    )
    console.print(key, soft_wrap=True)
    named = "POPFLOW_KEYS_DATABASE_URL" in os.environ or bool(deployment.name)
    console.print(
        (
            f"`popflow keys` and `popflow demo` work on this deployment's key store with "
            f"POPFLOW_KEYS_DATABASE_URL='{_without_password(url)}'"
            if named
            else "`popflow keys` and `popflow demo` in this checkout use this deployment's key store "
            "(var/key-store-url)"
        )
        + "\nA campaign week to look at:  .venv/bin/popflow demo --key <the key above>"
        + _demo_options(deployment),
        soft_wrap=True,
    )


def _demo_options(deployment: LocalDeployment) -> str:
    """`popflow demo` plays 440111 on 8001-8004 by default; a side-by-side deployment names its own."""
    if not deployment.name:
        return ""
    urls = " ".join(f"--{service} {deployment.url(service)}" for service in ("intake", "notification", "reporting"))
    return f" --district {deployment.name} {urls}"


def _remember_key_store(url: str) -> None:
    """For `popflow keys` and `popflow demo` in this checkout (services/cli/keys.py); a failure to write it is said,
    and stops nothing."""
    try:
        remember_store(url)
    except OSError as error:
        console.print(f"[yellow]Could not keep the key store's URL in var/key-store-url:[/] {error.strerror}")


def _without_password(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _start_kafka(port: int, env: dict[str, str], children: Children, signals: StopSignals) -> None:
    env["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{port}"
    kafka_env = {**env, "KAFKA_PORT": str(port), "PYTHON": sys.executable}
    log_path = ROOT / "var" / "kafka.log"
    log_path.parent.mkdir(exist_ok=True)
    if log_path.exists():  # this run's broker output alone; the run before kept beside it, none older
        log_path.replace(log_path.with_name("kafka.log.1"))
    console.print(f"[bold]Starting Kafka[/] on 127.0.0.1:{port} (first run fetches the jars); log: {log_path}")
    with signals.deferred():
        children["kafka"] = subprocess.Popen(
            ["bash", str(ROOT / "deploy/kafka/start.sh"), "--foreground"],
            env=kafka_env,
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop Kafka last, after the services
        )
    wait = [sys.executable, str(ROOT / "deploy/kafka/wait_ready.py"), env["KAFKA_BOOTSTRAP_SERVERS"], "180"]
    waiting = subprocess.Popen(wait, env=kafka_env)
    try:
        while waiting.poll() is None and children["kafka"].poll() is None:
            time.sleep(0.2)
    finally:
        if waiting.poll() is None:  # Kafka is gone, or `up` is stopping: no use waiting the three minutes
            waiting.kill()
            waiting.wait()
    if waiting.returncode != 0:
        _say_why_kafka_failed(children["kafka"], log_path)
        raise typer.Exit(1)


def _say_why_kafka_failed(kafka: subprocess.Popen[bytes], log_path: Path, lines: int = 15) -> None:
    """The reason is in Kafka's log (start.sh's refusal, the broker's error): its end, on the terminal."""
    state = "did not answer" if kafka.poll() is None else f"exited ({kafka.returncode})"
    tail = log_path.read_text(errors="replace").splitlines()[-lines:] if log_path.exists() else []
    console.print(f"[red]Kafka {state} during start-up.[/] The end of {log_path}:")
    console.print("\n".join(tail), markup=False, highlight=False, soft_wrap=True)


def _wanted_ports(env: dict[str, str], codes: list[str], kafka_port: int | None) -> dict[str, tuple[str, int]]:
    """What each listener of this `up` will bind, by who and with which variable: (host, port)."""
    wanted: dict[str, tuple[str, int]] = {}
    if kafka_port is not None:
        controller = int(env.get("KAFKA_CONTROLLER_PORT", kafka_port + 1))
        wanted |= {"Kafka (KAFKA_PORT)": ("127.0.0.1", kafka_port)}
        wanted |= {"Kafka's controller (KAFKA_CONTROLLER_PORT)": ("127.0.0.1", controller)}
    for n, code in enumerate(codes or [""]):
        ports = district_ports(env, n)
        for service in SERVICES:
            variable = f"{service.upper()}_PORT"
            owner = f"{code}/{service}" if code else service
            host = env.get(f"{service.upper()}_HOST", "127.0.0.1")
            wanted[f"{owner} ({variable})"] = (host, int(ports[variable]))
    return wanted


def _require_free(wanted: dict[str, tuple[str, int]]) -> None:
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


def _wait_ready(deployments: list[LocalDeployment], children: Children, signals: StopSignals) -> None:
    deadline = time.monotonic() + 120 * len(deployments)
    pending = {_child(d, service): d.url(service) for d in deployments for service in SERVICES}
    while pending and time.monotonic() < deadline:
        signals.raise_if_asked()
        exited = [name for name, child in children.items() if child.poll() is not None]
        if exited:
            console.print(f"[red]{', '.join(exited)} exited during start-up; see the log above.[/]")
            raise typer.Exit(1)
        for name, url in sorted(pending.items()):
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    del pending[name]
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    if pending:
        console.print(f"[red]Not ready in time:[/] {', '.join(sorted(pending))}")
        raise typer.Exit(1)


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
    if len(deployments) > 1:  # side by side: each district is the others' exchange partner
        console.print(f"Exchange partners: {partners_file}")


def _stop(children: Children) -> None:
    """Services first, all at once (they flush to Kafka), Kafka last; SIGKILL whatever lingers."""
    services = [child for name, child in children.items() if name != "kafka"]
    _terminate(services)
    if "kafka" in children:
        _terminate([children["kafka"]])
    if children:  # not after a start refused before anything ran (a port taken, say)
        console.print("PopFlow stopped.")


def _terminate(processes: list[subprocess.Popen[bytes]], timeout_s: float = 30) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
