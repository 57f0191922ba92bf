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
from services.cli.local import StopSignals, _stop
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
    _stop(children)
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
