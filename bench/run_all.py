"""`make bench`: every benchmark in one go on a private system, one table, figures as JSON.

Runs each benchmark script as its own process (each starts what it needs on
the Kafka and PostgreSQL named by KAFKA_BOOTSTRAP_SERVERS and
POPFLOW_TEST_PG_URL, under fresh topic prefixes and databases), reads the
`name=value` pairs of its last line, prints one table, writes
bench/results/<UTC time>.json with the machine's description, and ends with

    post_ratio=<x> bulk_rows_per_s=<a> routed_per_s=<b> e2e_records_per_s=<c> webhook_p99_ms=<d>

    .venv/bin/python bench/run_all.py [--quick] [--only intake,routing]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.box_share import box_times
from bench.broker_warmup import warm

BENCH = Path(__file__).resolve().parent
console = Console(stderr=True)

# name -> (script arguments, --quick arguments, what the targets compare it with)
RUNS: dict[str, tuple[list[str], list[str], str]] = {
    "intake": (
        # three pairs of the anchor's run and intake's, in turn: the box's speed drifts by the minute, and
        # one pair's ratio read 0.26 to 0.35 on the same code (round 43)
        # and last the outbox relay alone draining every row of the run again: one relay leader's capacity
        ["intake_throughput.py", "--rows", "100000", "--posts", "5000", "--pairs", "3", "--relay"],
        ["intake_throughput.py", "--rows", "10000", "--posts", "1000"],
        "post_ratio >= 0.5, post_p99_ms <= 50, bulk_rows_per_s >= 15000, bulk_published_per_s >= 10000",
    ),
    # single POSTs with two intake processes (INTAKE_WEB_WORKERS=2, one a core here), against the same
    # run's anchor: how intake grows by processes; the last line's post_ratio stays the one-process figure
    "intake-2": (
        ["intake_throughput.py", "--rows", "0", "--posts", "5000", "--web-workers", "2", "--pairs", "3"],
        ["intake_throughput.py", "--rows", "0", "--posts", "1000", "--web-workers", "2"],
        "post_ratio >= 0.5, post_p99_ms <= 50 (two processes)",
    ),
    "routing": (
        ["routing_throughput.py", "--records", "200000"],
        ["routing_throughput.py", "--records", "20000"],
        "routed_per_s >= 5000",
    ),
    # the same with two routing processes in one consumer group (ROUTING_WEB_WORKERS=2, docs/scaling.md):
    # how routing grows by processes; the last line's routed_per_s stays the one-process figure
    "routing-2": (
        ["routing_throughput.py", "--records", "200000", "--workers", "2"],
        ["routing_throughput.py", "--records", "20000", "--workers", "2"],
        "routed_per_s >= 5000 (two processes)",
    ),
    "notification": (
        ["notification_throughput.py", "--rate", "200", "--seconds", "60"],
        ["notification_throughput.py", "--rate", "100", "--seconds", "10", "--burst", "500"],
        "webhook p99 <= 250 ms at 200 records/s for 60 s",
    ),
    "e2e": (
        ["e2e_throughput.py", "--start", "--records", "20000"],
        ["e2e_throughput.py", "--start", "--records", "2000"],
        "e2e_records_per_s >= 500",
    ),
    "exchange": (
        ["exchange_throughput.py", "--records", "2000"],
        ["exchange_throughput.py", "--records", "200"],
        "2,000 inter-district records between two deployments, https and FTP (figures in the README)",
    ),
    # what a record leaves in each service's database, and the WAL and pages it writes: docs/scaling.md's sizing
    "footprint": (
        ["db_footprint.py", "--posts", "20000", "--rows", "20000"],
        ["db_footprint.py", "--posts", "2000", "--rows", "2000"],
        "figures asked (docs/scaling.md: database size, WAL and page writes a record)",
    ),
    "reporting": (
        ["reporting_throughput.py"],
        ["reporting_throughput.py", "--events", "50000", "--records", "100000"],
        "folded_per_s >= 10000, weekly_report_ms <= 1000",
    ),
}


def last_figures(output: str) -> dict[str, float]:
    """The `name=value` pairs of the last line that has any."""
    for line in reversed(output.strip().splitlines()):
        pairs = [part.split("=", 1) for part in line.split() if "=" in part]
        figures = {}
        for name, value in pairs:
            try:
                figures[name] = float(value)
            except ValueError:
                continue
        if figures:
            return figures
    return {}


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line
    )
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory_gib": f"{memory_kib / 1024 / 1024:.1f}",
        "os": platform.platform(),
        "python": platform.python_version(),
        # which build: Debian's (PGO, LTO) and a default pyenv build differ by a tenth in routing's CPU
        "python_executable": os.path.realpath(sys.executable),
        "load_1m_at_start": f"{os.getloadavg()[0]:.2f}",
    }


def shares(before: list[int], after: list[int]) -> dict[str, float]:
    """Percent of the box's time between two readings: idle, and stolen by the host of a virtual machine."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(spent) or 1
    return {"idle_pct": round(100 * (spent[3] + spent[4]) / total, 1), "steal_pct": round(100 * spent[7] / total, 1)}


def settle(quiet_pct: float = 85.0, within_s: float = 60.0) -> float:
    """Wait until the box is quiet (a second at `quiet_pct` % idle or more), at most `within_s`; the seconds waited.

    The benchmark before may leave work behind it: PostgreSQL's checkpoint after its DROP DATABASE,
    the broker deleting its topics' logs. The next one should not measure that.
    """
    started = time.perf_counter()
    while time.perf_counter() - started < within_s:
        before = box_times()
        time.sleep(1)
        if shares(before, box_times())["idle_pct"] >= quiet_pct:
            break
    return round(time.perf_counter() - started, 1)


def run(name: str, arguments: list[str]) -> tuple[dict[str, float], float, str, dict[str, float], int]:
    waited = settle()
    console.print(f"[bold]{name}[/]: {' '.join(arguments)} (after {waited} s for a quiet box)")
    started, before = time.perf_counter(), box_times()
    process = subprocess.run(
        [sys.executable, str(BENCH / arguments[0]), *arguments[1:]], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    box = shares(before, box_times()) | {"settled_s": waited}
    if process.returncode != 0:
        console.print(f"[red]{name} failed ({process.returncode})[/]\n{process.stderr[-3000:]}")
    return last_figures(process.stdout), elapsed, process.stdout, box, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs, to check the benchmarks work")
    parser.add_argument("--only", default="", help="comma-separated names: " + ",".join(RUNS))
    args = parser.parse_args()
    chosen = [n for n in RUNS if not args.only or n in args.only.split(",")]
    # make bench's broker is new: its first minute costs it 2-4 times the CPU a message (bench/broker_warmup.py)
    started = time.perf_counter()
    warmup = asyncio.run(warm(os.environ["KAFKA_BOOTSTRAP_SERVERS"], messages=20_000 if args.quick else 100_000))
    console.print(
        f"broker warmed in {time.perf_counter() - started:.0f} s: "
        + ", ".join(f"{cost:.1f}" for cost in warmup)
        + " µs of its CPU a message, round by round"
    )
    results: dict[str, dict[str, object]] = {}
    for name in chosen:
        full, quick, target = RUNS[name]
        figures, elapsed, output, box, exit_code = run(name, quick if args.quick else full)
        results[name] = {
            "figures": figures,
            "exit_code": exit_code,
            "seconds": round(elapsed, 1),
            "target": target,
            # the box while it ran: a virtual machine's host may take CPU from it (steal), which moves every figure
            "box": box,
            "output": output,
        }
    table = Table("benchmark", "figures", "target", "s", "stolen %")
    for name, result in results.items():
        found, while_run = result["figures"], result["box"]
        assert isinstance(found, dict)
        assert isinstance(while_run, dict)
        shown = " ".join(f"{k}={v:g}" for k, v in found.items())
        if result["exit_code"]:
            shown = f"FAILED (exit {result['exit_code']}) {shown}".rstrip()
        table.add_row(name, shown, str(result["target"]), str(result["seconds"]), f"{while_run['steal_pct']:g}")
    Console().print(table)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = BENCH / "results" / f"{stamp}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(exist_ok=True)
    document = {"machine": machine(), "quick": args.quick, "broker_warmup_us_per_message": warmup, "results": results}
    out.write_text(json.dumps(document, indent=2) + "\n")
    console.print(f"figures written to {out.relative_to(BENCH.parent)}")

    def figure(bench: str, key: str) -> str:
        figures = results.get(bench, {}).get("figures", {})
        assert isinstance(figures, dict)
        return f"{figures[key]:g}" if key in figures else "nan"

    print(
        f"post_ratio={figure('intake', 'post_ratio')} bulk_rows_per_s={figure('intake', 'bulk_rows_per_s')} "
        f"routed_per_s={figure('routing', 'routed_per_s')} e2e_records_per_s={figure('e2e', 'e2e_records_per_s')} "
        f"webhook_p99_ms={figure('notification', 'post_to_webhook_p99_ms')}"
    )
    failed = [name for name, result in results.items() if result["exit_code"]]
    if failed:  # the table and the JSON are kept; the exit says a figure is missing, and which
        console.print(f"[red]failed: {', '.join(failed)} (their output is above and in the JSON)[/]")
        sys.exit(1)


if __name__ == "__main__":
    main()
