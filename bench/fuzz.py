"""Schemathesis over the four services until each has taken at least 5,000 cases; every 5xx counted.

    .venv/bin/python bench/fuzz.py [--cases 5000] [--key pf_...] [--urls http://127.0.0.1:8001,...]

With --key (or POPFLOW_ADMIN_KEY) it fuzzes a running system (`make run`, the
default URLs). Without, it starts a private one like the e2e suite does
(needs KAFKA_BOOTSTRAP_SERVERS and POPFLOW_TEST_PG_URL) and removes it
afterwards. Runs repeat with new seeds until a service reaches --cases. The
output of a run that found a server error is kept under bench/results/. The
last line is machine-readable: `fuzz_cases=<n> server_errors=<m>`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.fuzzing import FuzzRun, fuzz  # noqa: E402
from tests.support.system import SERVICES, System, build_system, destroy_system  # noqa: E402

RESULTS = ROOT / "bench" / "results"
EXAMPLES_PER_OPERATION = 100


def fuzz_service(service: str, url: str, key: str, target: int) -> tuple[int, int]:
    """(cases, server errors) of runs with seeds 1, 2, ... until `target` cases."""
    cases = errors = 0
    seed = 0
    while cases < target:
        seed += 1
        with tempfile.TemporaryDirectory() as reports:
            run = fuzz(
                service,
                url,
                key,
                max_examples=EXAMPLES_PER_OPERATION,
                seed=seed,
                report_dir=Path(reports),
                timeout_s=3600,
            )
        cases, errors = cases + run.cases, errors + run.server_errors
        print(f"{service}: seed {seed}: {run.cases} cases, {run.server_errors} server errors", flush=True)
        if run.returncode != 0:
            _keep(run, seed)
        if run.cases == 0:
            raise SystemExit(f"{service}: schemathesis generated nothing:\n{run.output[-3000:]}")
    return cases, errors


def _keep(run: FuzzRun, seed: int) -> None:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"fuzz-{run.service}-seed{seed}.txt"
    path.write_text(run.output, encoding="utf-8")
    print(f"{run.service}: failures kept in {path.relative_to(ROOT)}", flush=True)


def fuzz_all(urls: dict[str, str], key: str, target: int) -> tuple[int, int]:
    total_cases = total_errors = 0
    for service, url in urls.items():
        cases, errors = fuzz_service(service, url, key, target)
        print(f"{service}: {cases} cases, {errors} server errors", flush=True)
        total_cases, total_errors = total_cases + cases, total_errors + errors
    return total_cases, total_errors


async def on_private_system(target: int) -> tuple[int, int]:
    log_dir = Path(tempfile.mkdtemp(prefix="popflow-fuzz-"))
    system: System = await build_system(log_dir, {"NOTIFICATION_WEBHOOK_ALLOW": "loopback,http"})
    try:
        for service in SERVICES:
            system.start(service, wait=False)
        for service in SERVICES:
            system.wait_ready(service)
        key = await system.create_key("admin", label="fuzz")
        urls = {service: system.url(service) for service in SERVICES}
        return await asyncio.to_thread(fuzz_all, urls, key, target)
    finally:
        await destroy_system(system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=5000, help="least cases per service")
    parser.add_argument("--key", default=os.environ.get("POPFLOW_ADMIN_KEY"), help="an admin key of a running system")
    parser.add_argument(
        "--urls",
        default=",".join(f"http://127.0.0.1:{port}" for port in (8001, 8002, 8003, 8004)),
        help="intake, routing, notification, reporting",
    )
    args = parser.parse_args()
    if args.key:
        urls = dict(zip(SERVICES, args.urls.split(","), strict=True))
        cases, errors = fuzz_all(urls, args.key, args.cases)
    else:
        cases, errors = asyncio.run(on_private_system(args.cases))
    print(f"fuzz_cases={cases} server_errors={errors}")


if __name__ == "__main__":
    main()
