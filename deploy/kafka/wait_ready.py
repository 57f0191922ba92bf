"""Wait until a Kafka broker answers a real metadata request.

Usage: python deploy/kafka/wait_ready.py BOOTSTRAP [TIMEOUT_SECONDS=60] [BROKERS=1]

An open TCP port is not enough (the broker accepts connections before it has
joined the KRaft quorum and been unfenced), so we ask for cluster metadata
with aiokafka's admin client and require at least BROKERS brokers in the answer
(a cluster's every node, before topics replicated on all of them are created).
Exit 0 when ready, 1 (with the last error) when the timeout expires.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient


async def probe(bootstrap: str, request_timeout_s: float) -> dict[str, Any]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=max(1000, int(request_timeout_s * 1000)),
        client_id="popflow-wait-ready",
    )
    try:
        await admin.start()
        meta: dict[str, Any] = await admin.describe_cluster()
        return meta
    finally:
        await admin.close()


async def wait_ready(bootstrap: str, timeout_s: float, wanted: int = 1) -> int:
    deadline = time.monotonic() + timeout_s
    last_error = "no attempt made"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            meta = await asyncio.wait_for(probe(bootstrap, min(5.0, remaining)), timeout=min(10.0, remaining))
            brokers = meta.get("brokers") or []
            if len(brokers) >= wanted:
                print(
                    f"kafka ready at {bootstrap}: cluster_id={meta.get('cluster_id')} "
                    f"brokers={len(brokers)} controller_id={meta.get('controller_id')}",
                    file=sys.stderr,
                )
                return 0
            last_error = f"metadata answered with {len(brokers)} of {wanted} broker(s)"
        except Exception as exc:  # connection refused, timeouts, protocol errors
            last_error = f"{type(exc).__name__}: {exc}"
        await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
    print(
        f"kafka NOT ready at {bootstrap} after {timeout_s:g}s (last error: {last_error})",
        file=sys.stderr,
    )
    return 1


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    bootstrap = argv[1]
    timeout_s = float(argv[2]) if len(argv) > 2 else 60.0
    wanted = int(argv[3]) if len(argv) > 3 else 1
    # aiokafka logs every refused connection at ERROR; we report once at the end.
    logging.basicConfig(level=logging.CRITICAL)
    return asyncio.run(wait_ready(bootstrap, timeout_s, wanted))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
