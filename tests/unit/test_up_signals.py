"""`popflow up` stops what it started when its terminal closes (SIGHUP), as on Ctrl-C and SIGTERM: Kafka runs in
a session of its own, which the hang-up does not reach, and would otherwise outlive `up`, holding its port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# `up`'s own handling around a child started as it starts Kafka (start_new_session=True)
UP = """
import subprocess, time
from services.cli.local_processes import StopSignals, stop_all
signals, children = StopSignals(), {}
try:
    signals.install()
    children["kafka"] = subprocess.Popen(["sleep", "600"], start_new_session=True)
    print(children["kafka"].pid, flush=True)
    time.sleep(60)
except KeyboardInterrupt:
    print("stopping", flush=True)
finally:
    signals.ignore()
    stop_all(children)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_closed_terminal_stops_the_child_in_its_own_session() -> None:
    # SIGTERM: tests/e2e/test_cli_up.py, on the real `up`
    up = subprocess.Popen(
        [sys.executable, "-c", UP], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE
    )
    assert up.stdout is not None
    kafka = int(up.stdout.readline())
    try:
        up.send_signal(signal.SIGHUP)
        up.wait(timeout=30)
        for _ in range(50):
            if not alive(kafka):
                break
            time.sleep(0.1)
        assert not alive(kafka)
        assert up.returncode == 0
    finally:
        if alive(kafka):
            os.kill(kafka, signal.SIGKILL)
        up.kill()


# A SIGTERM whose KeyboardInterrupt Python swallowed: its handler ran inside a weakref callback (here: a
# collected object's), which prints "Exception ignored" and goes on. `up` then waits for its services.
SWALLOWED = """
import gc, os, signal, subprocess, weakref
from services.cli.local_processes import StopSignals, stop_all, wait_for_stop
class Collected: pass
signals, children = StopSignals(), {}
try:
    signals.install()
    children["intake"] = subprocess.Popen(["sleep", "600"])
    print(children["intake"].pid, flush=True)
    thing = Collected()
    kept = weakref.ref(thing, lambda _: os.kill(os.getpid(), signal.SIGTERM))
    del thing
    gc.collect()
    wait_for_stop(children, signals)
    print("ran on", flush=True)
except KeyboardInterrupt:
    print("stopping", flush=True)
finally:
    signals.ignore()
    stop_all(children)
"""


def test_a_stop_swallowed_where_its_signal_landed_still_stops_up() -> None:
    up = subprocess.Popen(
        [sys.executable, "-c", SWALLOWED],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert up.stdout is not None
    child = int(up.stdout.readline())
    try:
        out, err = up.communicate(timeout=30)
        assert b"Exception ignored" in err  # the handler's KeyboardInterrupt went no further than the callback
        assert out.decode().splitlines()[0] == "stopping"  # not "ran on": up stopped where it waited
        assert up.returncode == 0
        assert not alive(child)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)
        up.kill()
