"""A service started by the test harness ends with the run that started it, however that run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.support.system import ROOT, service_command

PARENT = """
import subprocess, sys, time
from tests.support.system import service_command
child = subprocess.Popen(service_command("-c", "import time; time.sleep(120)"))
print(child.pid, flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a child that ended but was not yet reaped by init is a zombie: gone for our purpose
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def command_of(pid: int) -> list[bytes]:
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        return cmdline.read().split(b"\0")


def test_a_service_ends_when_the_run_that_started_it_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    program = [b"-c", b"import time; time.sleep(120)"]
    deadline = time.monotonic() + 30  # past the step that sets the signal and becomes the program, however slow
    while command_of(child)[1:3] != program and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive(child)
    assert command_of(child)[1:3] == program  # it became it

    parent.send_signal(signal.SIGKILL)  # no clean-up of its own runs
    parent.wait()

    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


def test_the_command_is_the_interpreter_with_the_given_arguments() -> None:
    command = service_command("-m", "services.intake")
    assert command[0] == sys.executable
    assert command[-3:] == [str(os.getpid()), "-m", "services.intake"]
