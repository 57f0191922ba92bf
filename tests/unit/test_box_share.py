"""bench/box_share.py: which process a benchmark's box CPU went to."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.box_share import BoxShare, postgres_processes, standard_groups, thread_kind

GROUPS = standard_groups({"intake": 100}, databases="t1a2b3c", bootstrap="127.0.0.1:29092,127.0.0.1:29095")


def test_a_service_and_its_descendants_are_counted_with_it() -> None:
    assert GROUPS(100, 1, "python -m services.intake") == "intake"
    assert GROUPS(101, 100, "python -c from multiprocessing.forkserver import main") == "intake workers"
    assert GROUPS(102, 101, "python -c from multiprocessing.forkserver import main") == "intake workers"
    assert GROUPS(300, 1, "python -c from multiprocessing.forkserver import main") == "other"


def test_only_this_runs_database_connections_are_postgresql() -> None:
    assert GROUPS(200, 2, "postgres: 15/main: popflow t1a2b3c_intake 127.0.0.1(50312) idle") == "PostgreSQL"
    assert GROUPS(201, 2, "postgres: 15/main: popflow tffffff_intake 127.0.0.1(50313) COPY") == "other"
    assert GROUPS(202, 2, "postgres: 15/main: postgres postgres [local] idle") == "other"
    assert GROUPS(203, 2, "postgres: 15/main: walwriter") == "PostgreSQL"
    assert GROUPS(2, 1, "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main") == "PostgreSQL"


def test_postgresql_processes_are_told_apart_by_what_they_do() -> None:
    server = postgres_processes("t1a2b3c")
    assert server(200, 2, "postgres: 15/main: popflow t1a2b3c_intake 127.0.0.1(50312) idle") == "connections"
    assert (
        server(201, 2, "postgres: 15/main: popflow tffffff_intake 127.0.0.1(50313) COPY") == "other runs' connections"
    )
    assert server(202, 2, "postgres: 15/main: postgres postgres [local] idle") == "other runs' connections"
    assert server(203, 2, "postgres: 15/main: autovacuum worker tffffff_intake") == "autovacuum"
    assert server(204, 2, "postgres: 15/main: checkpointer") == "checkpointer"
    assert server(205, 2, "postgres: 15/main: walwriter") == "WAL writer"
    assert server(206, 2, "postgres: 15/main: background writer") == "background writer"
    assert server(207, 2, "postgres: 15/main: autovacuum launcher") == "server"
    assert server(2, 1, "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main") == "server"
    assert server(300, 1, "python -m services.intake") is None


def test_only_the_broker_listening_on_the_runs_port_is_kafka(tmp_path: Path) -> None:
    ours, another = tmp_path / "ours.properties", tmp_path / "another.properties"
    ours.write_text(
        "process.roles=broker,controller\nlisteners=PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093\n"
    )
    another.write_text(
        "listeners=PLAINTEXT://127.0.0.1:290920,CONTROLLER://127.0.0.1:19093\n"
    )  # 29092 is a prefix only
    assert GROUPS(400, 1, f"java -Xmx768m kafka.Kafka {ours}") == "Kafka"
    assert GROUPS(401, 1, f"java -Xmx768m kafka.Kafka {another}") == "other"
    assert GROUPS(402, 1, f"java kafka.Kafka {tmp_path / 'gone.properties'}") == "other"
    assert GROUPS(os.getpid(), 1, "python bench/intake_throughput.py") == "client"


def test_a_busy_child_is_counted_and_an_idle_one_is_not() -> None:
    # it spins once told to, inside the window: spinning at once, a slow start-up left part of it before
    spin = (
        "import sys, time\nsys.stdin.readline()\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass"
    )
    busy = subprocess.Popen([sys.executable, "-c", spin], stdin=subprocess.PIPE)
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3)"])
    time.sleep(0.3)  # both started (their start-up's CPU falls before the window)
    try:
        groups = standard_groups({"busy": busy.pid, "idle": idle.pid}, databases="-", bootstrap="-")
        with BoxShare(groups, every_s=0.1) as share:
            busy.communicate(b"go\n", timeout=30)
        spent = share.seconds()
        assert 0.2 < spent["busy"] < 1.0, spent
        assert spent.get("idle", 0.0) < 0.05, spent
        assert share.box_seconds() >= spent["busy"] * 0.9  # the box's busy time holds every group's
        assert share.per(1000)["busy"] == spent["busy"] / 1000 * 1e6
        assert re.match(r"box CPU per row: (.+, )?busy \d+ µs", share.line(1000, "row"))
    finally:
        idle.kill()
        idle.wait()


def test_a_brokers_threads_are_named_by_what_they_do() -> None:
    assert thread_kind("data-plane-kafk") == "requests"
    assert thread_kind("C2 CompilerThre") == "JIT"
    assert thread_kind("G1 Conc#0") == "GC"
    assert thread_kind("GC Thread#1") == "GC"
    assert thread_kind("kafka-log-clean") == "log cleaner"
    assert thread_kind("kafka-scheduler") == "scheduler"
    assert thread_kind("kafka-3-raft-io") == "raft and metadata"  # any node id
    assert thread_kind("kafka-12-metada") == "raft and metadata"
    assert thread_kind("java") == "other"


def test_the_grouped_process_cpu_is_split_by_its_threads_names() -> None:
    # a child whose one named thread spins and whose main thread sleeps, once told to go
    spin = (
        "import ctypes, sys, threading, time\n"
        "def work():\n"
        "    ctypes.CDLL(None).prctl(15, b'kafka-log-cleaner-thread-0')\n"  # PR_SET_NAME: its own name
        "    end = time.thread_time() + 0.6\n"
        "    while time.thread_time() < end: pass\n"
        "sys.stdin.readline()\n"
        "worker = threading.Thread(target=work)\n"
        "worker.start(); worker.join(); time.sleep(0.3)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", spin], stdin=subprocess.PIPE)
    time.sleep(0.3)
    try:
        with BoxShare(
            lambda pid, parent, command: "Kafka" if pid == child.pid else None, every_s=0.1, by_thread="Kafka"
        ) as share:
            child.communicate(b"go\n", timeout=30)
        spent = share.thread_seconds()
        assert 0.3 < spent["log cleaner"] < 1.0, spent
        assert spent.get("other", 0.0) < 0.2, spent  # the main thread slept
        assert re.match(r"Kafka CPU per row by thread: log cleaner \d+\.\d µs", share.threads_line(1000, "row"))
    finally:
        child.kill()
        child.wait()
