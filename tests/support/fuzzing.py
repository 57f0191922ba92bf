"""Schemathesis over a service's OpenAPI document with an admin key: how many cases, how many 5xx.

Shared by the short run in the e2e suite (tests/e2e/test_fuzz.py) and the long
one against a running system (bench/fuzz.py). Only `not_a_server_error` is
checked: a 4xx problem for nonsense input is the right answer, a 5xx never is.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
GENERATED = re.compile(r"(\d+) generated")
SERVER_ERRORS = re.compile(r"Server error: (\d+)")  # unique failures of not_a_server_error, in the summary


@dataclass(frozen=True, slots=True)
class FuzzRun:
    service: str
    cases: int
    server_errors: int
    returncode: int
    output: str


def fuzz(
    service: str, base_url: str, admin_key: str, *, max_examples: int, seed: int, report_dir: Path, timeout_s: float
) -> FuzzRun:
    """One schemathesis run over every operation of `base_url`/openapi.json."""
    command = [
        SCHEMATHESIS,
        "run",
        f"{base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {admin_key}",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
        "--report-dir",
        str(report_dir),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    output = result.stdout + result.stderr
    cases = sum(int(n) for n in GENERATED.findall(output))
    summary = output.rsplit("SUMMARY", 1)[-1]
    errors = sum(int(n) for n in SERVER_ERRORS.findall(summary))
    return FuzzRun(service, cases, errors, result.returncode, output)
