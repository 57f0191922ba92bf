"""Processes as /proc shows them: who is whose parent (a service's bulk workers, their forkserver)."""

from __future__ import annotations

import os
from pathlib import Path


def parents() -> dict[int, int]:
    """Parent pid of every process still there, by pid."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = entry.joinpath("stat").read_text()
            except OSError:  # ended meanwhile
                continue
            found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


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
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields 14 and 15 of stat (utime, stime), counted after the command name
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
