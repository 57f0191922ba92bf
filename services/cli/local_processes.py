"""The processes of `popflow up`: Kafka and the services as children, the signals that stop them, their stop.

Apart from the command (services/cli/local.py) because supervising them has
rules of its own: a child is never started without being recorded for the
clean-up, a signal at any moment (during start-up too) stops what was
started, a child that dies stops the rest, and the services stop before
Kafka, which they flush to.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import typer
from rich.console import Console

from services.cli.side_by_side import SERVICE_PORTS as SERVICES
from services.cli.side_by_side import LocalDeployment

ROOT = Path(__file__).resolve().parents[2]
console = Console()
Children = dict[str, subprocess.Popen[bytes]]


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP become KeyboardInterrupt, except inside `deferred()`, where they wait for its end.

    SIGHUP too: Kafka runs in a session of its own, which a closed terminal does not reach; `up` killed by the
    hang-up would leave it running, holding its port and data folder. The services share `up`'s process group,
    get the hang-up too and stop on it as on SIGTERM (shared/serving.py), so `stop_all`'s SIGTERM finds them
    stopping."""

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


def wait_for_stop(children: Children, signals: StopSignals) -> str:
    """Until Ctrl-C or SIGTERM (KeyboardInterrupt), or until a child dies: returns its name."""
    while True:
        signals.raise_if_asked()
        for name, child in children.items():
            if child.poll() is not None:
                console.print(f"[red]{name} exited ({child.returncode}); stopping the others.[/]")
                return name
        time.sleep(0.5)


def child_name(deployment: LocalDeployment, service: str) -> str:
    return f"{deployment.name}/{service}" if deployment.name else service


def start_kafka(port: int, env: dict[str, str], children: Children, signals: StopSignals) -> None:
    env["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{port}"
    kafka_env = {**env, "KAFKA_PORT": str(port), "PYTHON": sys.executable}
    log_path = ROOT / "var" / "kafka.log"
    log_path.parent.mkdir(exist_ok=True)
    if log_path.exists():  # this run's broker output alone; the run before kept beside it, none older
        log_path.replace(log_path.with_name("kafka.log.1"))
    console.print(f"[bold]Starting Kafka[/] on 127.0.0.1:{port}; log: {log_path}")
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


def wait_ready(deployments: list[LocalDeployment], children: Children, signals: StopSignals) -> None:
    deadline = time.monotonic() + 120 * len(deployments)
    pending = {child_name(d, service): d.url(service) for d in deployments for service in SERVICES}
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


def stop_all(children: Children) -> None:
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
