"""The four services as real processes, on real Kafka and PostgreSQL, for e2e tests.

Every run gets its own topic prefix and its own databases, so runs (and
developers) can share one broker and one PostgreSQL without interfering.
`kill` and `start` let fault tests SIGKILL a service and bring it back on
the same store; `start(service, replica=2)` runs a second process of a
service on its own port against the same databases and topics, as a second
replica would run on another machine.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.auth import parse_role, parse_scope
from shared.auth.store import MIGRATIONS as KEY_MIGRATIONS
from shared.auth.store import KeyStore
from shared.db import build_engine, run_migrations
from tests.support.infra import (
    DATA_KEYS,
    PERSON_KEY_SECRET,
    create_databases,
    drop_databases,
    kafka_bootstrap,
    unique_name,
)

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "routing", "notification", "reporting")
# A service started here ends with the test run or benchmark that started it, however that ends: a
# SIGTERM or SIGKILL skips the run's clean-up, and its services then held their ports and PostgreSQL
# connections (two such deployments took 72 of 100 and broke the next run, docs/performance.md
# round 17). Linux sends the service SIGTERM when its parent dies (prctl PR_SET_PDEATHSIG, kept
# across exec); set in a small Python step that then becomes the service.
PR_SET_PDEATHSIG = 1
_ENDS_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    f"ctypes.CDLL(None, use_errno=True).prctl({PR_SET_PDEATHSIG}, signal.SIGTERM)\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(0)  # the parent died before prctl: nothing will stop this process\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


def service_command(*arguments: str) -> list[str]:
    """`python <arguments>` as a process that ends when this one does (see _ENDS_WITH_PARENT)."""
    return [sys.executable, "-c", _ENDS_WITH_PARENT, str(os.getpid()), *arguments]


_HANDED_OUT: set[int] = set()  # a closed probe socket frees its port, and the kernel may offer it again
# Below the kernel's ephemeral range (32768 by Linux's default), from which every outgoing connection of the run
# takes its source port: a port the kernel offered to a probe was once taken that way, by a connection to Kafka or
# PostgreSQL, before the service it was handed to could listen on it. Below the 29xxx of the Kafka scripts too, and
# the 30000s that tests/support/kafka_cluster.py takes its brokers' ports from.
PORTS = range(20_000, 29_000)


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range, from which outgoing connections take their source ports."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def port_share(worker: str, workers: int) -> range:
    """This test worker's share of PORTS (pytest-xdist's "gw0", "gw1"...): another worker's probe cannot be offered
    the same port. The whole of PORTS outside xdist."""
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else None
    if index is None or workers < 2:
        return PORTS
    size = len(PORTS) // workers
    return range(PORTS.start + (index % workers) * size, PORTS.start + (index % workers + 1) * size)


def reserve(port: int) -> None:
    """A port the caller takes without free_port (a neighbour of one it handed out): never handed out after."""
    _HANDED_OUT.add(port)


def free_port() -> int:
    """A port nobody listens on now, that no outgoing connection takes as its own (below the ephemeral range), that
    no other test worker hands out, and that no earlier call of this run has handed out. On a host whose ephemeral
    range starts below this worker's share, the kernel's choice, as before."""
    share = port_share(os.environ.get("PYTEST_XDIST_WORKER", ""), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    below = range(share.start, min(share.stop, ephemeral_low()))
    if len(below) < min(100, len(share)):  # the host's ephemeral range takes most of the share
        return _kernel_port()
    share = below
    for port in random.sample(share, len(share)):
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # listened on, or held
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port in {share.start}-{share.stop - 1}")


def _kernel_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


@dataclass
class System:
    run_id: str
    env: dict[str, str]
    ports: dict[str, int]
    databases: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _admin_key: str | None = None

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(self, service: str, *, wait: bool = True, replica: int = 1) -> str:
        """Start a service's process; returns its name (`intake`, or `intake-2` for replica 2)."""
        name, env = service, self.env
        if replica != 1:
            name = f"{service}-{replica}"
            port = self.ports.setdefault(name, free_port())
            env = {**self.env, f"{service.upper()}_PORT": str(port)}
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            service_command("-m", f"services.{service}"),
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if wait:
            self.wait_ready(name)
        return name

    def start_together(self, *services: str) -> None:
        """Start these services at once and wait until each is ready: their imports and start-ups overlap.

        Any order is safe: intake migrates the key store, but the others only read it on requests (their
        /readyz asks the key store's database, not its tables), and create_key migrates it first."""
        for service in services:
            self.start(service, wait=False)
        for service in services:
            self.wait_ready(service)

    def wait_ready(self, service: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[service]
            if process.poll() is not None:
                raise RuntimeError(f"{service} exited ({process.returncode}); see {self.log_dir}/{service}.log")
            try:
                answer = httpx.get(self.url(service) + "/readyz", timeout=2)
            except httpx.HTTPError:
                answer = None
            if answer is not None and answer.status_code == 200:
                body = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
                if (named := body.get("service") if isinstance(body, dict) else None) != service.split("-")[0]:
                    raise RuntimeError(f"{service}'s port {self.ports[service]} is answered by {named}")
                return
            time.sleep(0.05)  # a refused connection costs next to nothing; a service is ready moments apart
        raise RuntimeError(f"{service} not ready after {timeout} s; see {self.log_dir}/{service}.log")

    def kill(self, service: str) -> None:
        """SIGKILL: no graceful shutdown, as in a crash."""
        process = self.processes.pop(service)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self, service: str) -> None:
        """SIGTERM and wait: a deployment's service taken down in good order."""
        process = self.processes.pop(service)
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    async def create_key(self, scope: str, label: str = "test", *, role: str | None = None) -> str:
        """A new API key in the system's key store (`role`: the scope's default unless given).

        The store is migrated first (a no-op once intake has done it), so tests
        that run some services without intake can still mint keys.
        """
        store = KeyStore(build_engine(self.env["POPFLOW_KEYS_DATABASE_URL"]))
        try:
            await run_migrations(store.engine, KEY_MIGRATIONS, version_table="alembic_version_keys")
            _, key = await store.create(parse_scope(scope), role=parse_role(role) if role else None, label=label)
        finally:
            await store.engine.dispose()
        return key

    async def revoke_key(self, key: str) -> None:
        store = KeyStore(build_engine(self.env["POPFLOW_KEYS_DATABASE_URL"]))
        try:
            assert await store.revoke(key.split("_")[1]), "no such active key"
        finally:
            await store.engine.dispose()

    async def admin_headers(self) -> dict[str, str]:
        """Authorization headers with an admin key, minted once per system."""
        if self._admin_key is None:
            self._admin_key = await self.create_key("admin", label="test admin")
        return {"Authorization": f"Bearer {self._admin_key}"}

    def log_text(self, service: str) -> str:
        return (self.log_dir / f"{service}.log").read_text(encoding="utf-8", errors="replace")


async def build_system(log_dir: Path, extra_env: dict[str, str] | None = None) -> System:
    run_id = unique_name("t")
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap(),
        "POPFLOW_TOPIC_PREFIX": f"test.{run_id}.",
        "POPFLOW_TOPIC_PARTITIONS": "3",
        "POPFLOW_PERSON_KEY_SECRET": PERSON_KEY_SECRET,
        "POPFLOW_DATA_KEYS": DATA_KEYS,
        "POPFLOW_LOG_FORMAT": "json",
        # the tests' webhook receivers and partner deployments listen on 127.0.0.1 over http: allowed here
        # explicitly, as a deployment would name what it trusts (docs/security.md)
        "NOTIFICATION_WEBHOOK_ALLOW": "loopback,http",
        **(extra_env or {}),
    }
    ports, databases = {}, {"keys": f"{run_id}_keys"}
    for service in SERVICES:
        ports[service] = free_port()
        databases[service] = f"{run_id}_{service}"
        env[f"{service.upper()}_PORT"] = str(ports[service])
    urls = await create_databases(list(databases.values()))
    env["POPFLOW_KEYS_DATABASE_URL"] = urls[databases["keys"]]
    for service in SERVICES:
        env[f"{service.upper()}_DATABASE_URL"] = urls[databases[service]]
    if "REPORTING_INTAKE_URL" not in (extra_env or {}):  # where reporting's place checks enter the missed
        env["REPORTING_INTAKE_URL"] = f"http://127.0.0.1:{ports['intake']}"
    return System(run_id=run_id, env=env, ports=ports, databases=databases, log_dir=log_dir)


async def destroy_system(system: System) -> None:
    system.stop_all()
    await drop_databases(list(system.databases.values()))
