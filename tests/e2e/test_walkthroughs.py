"""The shell walk-throughs of README.md and docs/*.md, run against a running system.

A walk-through is a ```bash block preceded by `<!-- walkthrough -->`. The
blocks of one document run in order in one bash session (`set -euo pipefail`)
with `KEY` set to an admin key; the well-known ports of `make run` (8001-8004,
the receiver's 9000) are pointed at this run's services. Each document must
exit 0 and print what EXPECTED says its reader will see.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.system import ROOT, SERVICES, System, free_port

MARKED_BLOCK = re.compile(r"<!-- walkthrough -->\s*\n```bash\n(.*?)```", re.S)
EXPECTED = {
    "README.md": ["accepted: ", '"route": "cross-street"', '"kind": "transfer"', '"week": "2026-W09"'],
    "docs/notification.md": ["signature ok", '"result":"confirmed"'],
}
DEFAULT_PORTS = dict(zip(SERVICES, (8001, 8002, 8003, 8004), strict=True))
RECEIVER_PORT = 9000


def walkthroughs() -> dict[str, list[str]]:
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = {str(path.relative_to(ROOT)): MARKED_BLOCK.findall(path.read_text(encoding="utf-8")) for path in documents}
    return {name: blocks for name, blocks in found.items() if blocks}


def test_every_walkthrough_says_what_its_reader_sees() -> None:
    assert set(walkthroughs()) == set(EXPECTED)


@pytest.mark.parametrize("document", sorted(EXPECTED))
async def test_the_walkthrough_runs(system: System, document: str, tmp_path: Path) -> None:
    key = await system.create_key("admin", label="walkthrough")
    code, printed = await _run(system, document, key, tmp_path)
    assert code == 0, f"{document} walk-through exited {code}:\n{printed}"
    for expected in EXPECTED[document]:
        assert expected in printed, f"{document}: {expected!r} not printed:\n{printed}"


async def test_the_readme_walkthrough_with_a_key_of_no_deployment_prints_intakes_problem(
    system: System, tmp_path: Path
) -> None:
    """`curl -f` printed only "The requested URL returned error: 401", never what intake said."""
    code, printed = await _run(system, "README.md", "pf_000000000000_not-a-key-of-this-deployment", tmp_path)
    assert code != 0
    assert "This API key is not valid or has been revoked." in printed
    assert "accepted: " not in printed


async def _run(system: System, document: str, key: str, tmp_path: Path) -> tuple[int, str]:
    assert shutil.which("jq"), "the walk-throughs use jq: install it (apt-get install jq)"
    script = "set -euo pipefail\n" + "\n".join(walkthroughs()[document])
    for service, port in DEFAULT_PORTS.items():
        script = script.replace(f"127.0.0.1:{port}", f"127.0.0.1:{system.ports[service]}")
    receiver = free_port()
    script = script.replace(f"127.0.0.1:{RECEIVER_PORT}", f"127.0.0.1:{receiver}")
    script = script.replace(f"--port {RECEIVER_PORT}", f"--port {receiver}")
    env = {**system.env, "KEY": key, "COLUMNS": "200"}
    output = tmp_path / "output.txt"
    with output.open("wb") as sink:
        # its own session: the receiver a walk-through starts in the background is stopped with it
        process = await asyncio.create_subprocess_exec(
            "bash", "-c", script, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = await asyncio.wait_for(process.wait(), timeout=300)  # a guard against a hung loop
        finally:
            _stop_group(process.pid)
    return code, output.read_text(encoding="utf-8", errors="replace")


def _stop_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
