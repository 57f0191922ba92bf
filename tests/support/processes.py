"""Processes as /proc shows them: who is whose parent (bulk workers, their forkserver, uvicorn's workers)."""

from __future__ import annotations

import os
from pathlib import Path


def parents() -> dict[int, int]:
    """Parent pid of every process still there, by pid."""
    found: dict[int, int] = {}
    for pid in pids():
        try:
            found[pid] = process_stat(pid)[0]
        except OSError:  # ended meanwhile
            continue
    return found


def workers_of(pid: int) -> list[int]:
    """The uvicorn supervisor's worker processes (multiprocessing children running the app)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(c) for c in children if "spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")
    ]


def pids() -> list[int]:
    """Every process /proc shows now."""
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def family(root: int) -> list[int]:
    """`root` and every process descended from it."""
    by_pid = parents()
    members, grown = {root}, True
    while grown:
        more = {pid for pid, parent in by_pid.items() if parent in members} - members
        members |= more
        grown = bool(more)
    return sorted(members)


def cpu_seconds(root: int) -> float:
    """User plus system CPU so far of `root` and its descendants (uvicorn's workers, bulk workers)."""
    total = 0.0
    for pid in family(root):
        try:
            total += process_cpu_seconds(pid)
        except OSError:  # ended meanwhile
            continue
    return total


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU so far of one process; OSError once it has ended."""
    return process_stat(pid)[1]


def process_stat(pid: int) -> tuple[int, float]:
    """A process's parent pid and its user plus system CPU so far, from one read; OSError once it has ended."""
    _, parent, seconds = _stat(Path(f"/proc/{pid}/stat"))
    return parent, seconds


def thread_stat(task: Path) -> tuple[str, float]:
    """A thread's name (15 characters at most) and its user plus system CPU so far, from its
    /proc/<pid>/task/<tid> directory; OSError once it has ended."""
    name, _, seconds = _stat(task / "stat")
    return name, seconds


def _stat(path: Path) -> tuple[str, int, float]:
    """A stat file's command name, parent pid and user plus system CPU seconds."""
    head, tail = path.read_text().rsplit(")", 1)
    fields = tail.split()
    # field 4 of stat (ppid), fields 14 and 15 (utime, stime), counted after the command name
    return head.split(" (", 1)[1], int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


TICK = os.sysconf("SC_CLK_TCK")
