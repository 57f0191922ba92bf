"""Which process spent the box's CPU while a benchmark ran: the service, PostgreSQL, Kafka, the client, the rest.

A rate on two cores is set by every process that runs beside the one measured:
PostgreSQL writing what the service sends, the broker storing what it publishes,
the benchmark's own client. `BoxShare` reads each process's CPU from /proc at
the start, every `every_s` while it runs, and at the end, and sums it by group;
the whole box's busy time (from /proc/stat) beside it shows what the groups
missed. A process that starts inside the window counts from zero (a new
database connection, a bulk worker); one that ends inside it counts up to its
last reading.

    with BoxShare(groups) as share:
        ... the measured work ...
    share.per(100_000)   # µs of CPU per row, by group

`groups(pid, parent, command)` names a process's group, or None to leave it
out; `standard_groups` names the usual ones for a service's benchmark.

`by_thread` names a group whose CPU is also split by what its threads do, from
each thread's name: the broker's request handling, its garbage collector, its
JIT compiler, its log cleaner and scheduler (retention, segment deletion),
its Raft and metadata threads. A run in which the broker costs several times
its usual share says which of those it was (`threads_line`).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from tests.support.processes import TICK, pids, process_stat, thread_stat

Grouping = Callable[[int, int, str], str | None]


class BoxShare:
    def __init__(self, groups: Grouping, *, every_s: float = 0.5, by_thread: str | None = None) -> None:
        self._groups, self._every_s, self._by_thread = groups, every_s, by_thread
        self._start: dict[int, float] = {}  # CPU seconds of each process present at the start
        self._last: dict[int, tuple[str, float]] = {}  # pid -> (group, CPU seconds at its last reading)
        self._names: dict[int, str | None] = {}
        self._thread_start: dict[int, float] = {}  # the same for each thread of the `by_thread` group, by tid
        self._thread_last: dict[int, tuple[str, float]] = {}  # tid -> (what it does, CPU seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self._box: tuple[list[int], list[int]] = ([], [])
        self.wall_s = 0.0

    def start(self) -> BoxShare:
        """Begin the window (or use `with`)."""
        self._began = time.perf_counter()
        self._box = (box_times(), [])
        for pid, (_, seconds) in self._read().items():
            self._start[pid] = seconds
        self._thread_start = {tid: seconds for tid, (_, seconds) in self._thread_last.items()}
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the window: what was spent from `start` to now."""
        self._stop.set()
        self._thread.join()
        self._read()
        self._box = (self._box[0], box_times())
        self.wall_s = time.perf_counter() - self._began

    def __enter__(self) -> BoxShare:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def seconds(self) -> dict[str, float]:
        """CPU seconds each group spent in the window, largest first."""
        spent: dict[str, float] = {}
        for pid, (group, seconds) in self._last.items():
            spent[group] = spent.get(group, 0.0) + seconds - self._start.get(pid, 0.0)
        return dict(sorted(spent.items(), key=lambda item: -item[1]))

    def box_seconds(self) -> float:
        """The whole box's busy CPU seconds in the window (every process, the kernel's own work included)."""
        before, after = self._box
        spent = [b - a for a, b in zip(before, after, strict=True)]
        busy = sum(spent) - spent[3] - spent[4] - spent[7]  # less idle, iowait and the host's steal
        return busy / TICK

    def per(self, units: int) -> dict[str, float]:
        """µs of CPU per unit (a row, a request) by group, with `box` for the whole box's busy time."""
        shares = {group: seconds / units * 1e6 for group, seconds in self.seconds().items()}
        return shares | {"box": self.box_seconds() / units * 1e6}

    def line(self, units: int, unit: str, *, title: str = "box CPU") -> str:
        """One printable line: `box CPU per row: intake 120 µs, PostgreSQL 85 µs, ... (box 390 µs)`."""
        shares = self.per(units)
        box = shares.pop("box")
        parts = ", ".join(f"{group} {us:.0f} µs" for group, us in shares.items() if us >= 0.5)
        return f"{title} per {unit}: {parts} (the whole box {box:.0f} µs, {self.box_seconds() / self.wall_s:.2f} cores)"

    def thread_seconds(self) -> dict[str, float]:
        """CPU seconds the `by_thread` group's threads spent in the window, by what they do, largest first."""
        spent: dict[str, float] = {}
        for tid, (kind, seconds) in self._thread_last.items():
            spent[kind] = spent.get(kind, 0.0) + seconds - self._thread_start.get(tid, 0.0)
        return dict(sorted(spent.items(), key=lambda item: -item[1]))

    def threads_line(self, units: int, unit: str) -> str:
        """One printable line: `Kafka CPU per decision by thread: requests 14 µs, JIT 9 µs, ...`."""
        shares = {kind: seconds / units * 1e6 for kind, seconds in self.thread_seconds().items()}
        parts = ", ".join(f"{kind} {us:.1f} µs" for kind, us in shares.items() if us >= 0.05)
        return f"{self._by_thread} CPU per {unit} by thread: {parts or 'none'}"

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self._every_s):
            self._read()

    def _read(self) -> dict[int, tuple[str, float]]:
        read: dict[int, tuple[str, float]] = {}
        for pid in pids():
            try:
                parent, seconds = process_stat(pid)
                if pid not in self._names:
                    command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    self._names[pid] = self._groups(pid, parent, command.strip())
            except OSError:  # ended meanwhile
                continue
            group = self._names[pid]
            if group is not None:
                read[pid] = (group, seconds)
                if group == self._by_thread:
                    self._thread_last.update(thread_times(pid))
        self._last.update(read)
        return read


def thread_times(pid: int) -> dict[int, tuple[str, float]]:
    """Each thread of `pid` still there: (what it does, from its name; its user plus system CPU so far)."""
    found: dict[int, tuple[str, float]] = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:  # the process ended meanwhile
        return found
    for task in tasks:
        try:
            name, seconds = thread_stat(task)
        except OSError:  # ended meanwhile
            continue
        found[int(task.name)] = (thread_kind(name), seconds)
    return found


# A JVM's thread names as Linux shows them (15 characters at most), by their start, to what they do.
THREAD_KINDS = (
    ("data-plane-kafk", "requests"),  # the broker's network threads and request handlers
    ("GC Thread", "GC"),
    ("G1 ", "GC"),
    ("C1 CompilerThre", "JIT"),
    ("C2 CompilerThre", "JIT"),
    ("kafka-log-clean", "log cleaner"),
    ("kafka-scheduler", "scheduler"),  # retention, segment deletion, flushes
    ("ExpirationReape", "purgatory"),  # requests waiting (acks=all, a fetch's wait)
    ("group-coordinat", "group coordinator"),
    ("transaction-log", "transactions"),
    ("TxnMarkerSender", "transactions"),
    ("kafka-N-", "raft and metadata"),  # kafka-<node id>-raft-io-thread, -metadata-loader-event-handler, ...
    ("quorum-controll", "raft and metadata"),
    ("controller-", "raft and metadata"),
    ("broker-", "raft and metadata"),
)


def thread_kind(name: str) -> str:
    """What a thread does, from its name (`THREAD_KINDS`); `other` for the rest."""
    name = re.sub(r"^kafka-\d+-", "kafka-N-", name)
    return next((kind for start, kind in THREAD_KINDS if name.startswith(start)), "other")


def box_times() -> list[int]:
    """The box's CPU ticks so far, from /proc/stat: user, nice, system, idle, iowait, irq, softirq, steal."""
    return [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def standard_groups(services: dict[str, int], *, databases: str, bootstrap: str) -> Grouping:
    """Groups for a benchmark of `services` (name -> pid: each with its descendants, its serving
    process apart from its worker processes), PostgreSQL (the connections to databases whose name holds
    `databases`, and the server's own processes), the Kafka broker of `bootstrap` (KAFKA_BOOTSTRAP_SERVERS:
    the one listening on its first address's port), this benchmark's process (`client`), and everything
    else (`other`: another test run on the box shows here)."""
    families: dict[int, str] = {pid: name for name, pid in services.items()}
    kafka_port = bootstrap.split(",")[0].rsplit(":", 1)[-1]
    client = os.getpid()

    def group(pid: int, parent: int, command: str) -> str | None:
        if pid in families:
            return families[pid]
        if parent in families:  # a web worker, the forkserver, a bulk worker: counted with their service
            families[pid] = families[parent]
            return f"{families[pid]} workers"
        if pid == client:
            return "client"
        program = command.split(" ", 1)[0]
        if program == "postgres:":  # "postgres: 15/main: popflow <database> 127.0.0.1(50312) idle", "...: walwriter"
            connection = command.split(": ", 2)[-1]
            if "(" in connection or "[local]" in connection:  # a connection: ours, or another run's
                return "PostgreSQL" if databases in connection else "other"
            return "PostgreSQL"  # the server's own: WAL writer, checkpointer, autovacuum
        if program.endswith("/postgres"):
            return "PostgreSQL"  # the server's first process
        if "kafka.Kafka" in command:
            return "Kafka" if _listens_on(command, kafka_port) else "other"
        return "other"

    return group


# PostgreSQL's own processes, by the start of what their command line says they are
SERVER_PROCESSES = (
    ("autovacuum worker", "autovacuum"),
    ("checkpointer", "checkpointer"),
    ("walwriter", "WAL writer"),
    ("background writer", "background writer"),
)


def postgres_processes(databases: str) -> Grouping:
    """PostgreSQL's processes by what they do: the connections to databases whose name holds `databases`,
    other runs' connections, autovacuum's workers, the checkpointer, the WAL writer, the background writer, and
    the rest of the server; None for every other process. Beside `standard_groups`'s one PostgreSQL figure it
    says whether a run's share was its own statements or the server's upkeep (round 46's slow relay drain)."""

    def group(pid: int, parent: int, command: str) -> str | None:
        program = command.split(" ", 1)[0]
        if program.endswith("/postgres"):
            return "server"
        if program != "postgres:":
            return None
        what = command.split(": ", 2)[-1]  # "popflow <database> 127.0.0.1(50312) idle", "checkpointer"
        if "(" in what or "[local]" in what:
            return "connections" if databases in what else "other runs' connections"
        return next((kind for start, kind in SERVER_PROCESSES if what.startswith(start)), "server")

    return group


def _listens_on(broker_command: str, port: str) -> bool:
    """Whether the broker started by this command line listens on `port`, from the properties file it names
    (deploy/kafka/start.sh writes `listeners=PLAINTEXT://127.0.0.1:<port>,...` there)."""
    for argument in broker_command.split():
        if argument.endswith(".properties"):
            try:
                listeners = [line for line in Path(argument).read_text().splitlines() if line.startswith("listeners=")]
            except OSError:  # gone, or not ours to read
                return False
            return any(f":{port}," in line + "," for line in listeners)
    return False
