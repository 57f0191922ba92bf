"""Inter-district exchange between two deployments: notices per second and the round trip, over https and FTP.

Baiyun (intake, routing, notification) and Tianhe (notification) exchange
`--records` inter-district records: each is POSTed at Baiyun about a person
living in 五山街道 (Tianhe); Baiyun forwards it to Tianhe (a signed POST, or a
batch file through a pyftpdlib FTP platform); Tianhe pushes the transfer to
the street's webhook, an automatic receiver that confirms each notice through
the answer route (POST /v1/notices/{id}/feedback); the answer travels back and
is applied at Baiyun (NoticeAnswered on Baiyun's topic). Round trip = the
record's POST at Baiyun to that NoticeAnswered.

    bench/exchange_throughput.py [--records 2000] [--transports https,ftp]

Last line: exchange_notices_per_s=<x> exchange_round_trip_p50_ms=<y> exchange_round_trip_p99_ms=<z>
(https), followed by the same three prefixed ftp_ when FTP ran.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.notification.domain.signing import secret_of
from shared.topics import NOTICES_ANSWERED
from tests.support import records
from tests.support.deployments import Deployment, build_deployments, destroy_deployments, start_all
from tests.support.ftp_platform import FtpPlatform
from tests.support.infra import kafka_connection
from tests.support.system import System, free_port

PLANS = [Deployment("baiyun", ("440111",), ("intake", "routing", "notification")), Deployment("tianhe", ("440106",))]
SECRET = secret_of(b"bench-street-office-secret-01234")
# batches fill up when many messages for one folder are due together; retries stay quick
BENCH_ENV = {"NOTIFICATION_PER_RECIPIENT_CONCURRENCY": "64", "POPFLOW_LOG_LEVEL": "WARNING"}


def record_body(n: int) -> dict[str, object]:
    body = records.record(reporting_street=records.TONGDE, residence_street=records.WUSHAN, name="测试")
    born = date(1980, 1, 1) + timedelta(days=n // 500)
    body["person"]["id_number"] = records.id_number(born=born, sequence=n % 500 * 2)
    body["registration"] = {"division": "440111", "address": "广州市白云区"}  # no third deployment needed
    return body


class Street:
    """五山街道's webhook at Tianhe: 204 at once, then confirms the notice through the answer route."""

    def __init__(self, tianhe: System, key: str) -> None:
        self._tianhe, self._key = tianhe, key
        self._client = httpx.AsyncClient(base_url=tianhe.url("notification"), timeout=60)
        self._tasks: set[asyncio.Task[None]] = set()
        self.answered = 0

    async def hook(self, request: Request) -> Response:
        body = json.loads(await request.body())
        task = asyncio.create_task(self._confirm(str(body["notice_id"])))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Response(status_code=204)

    async def _confirm(self, notice_id: str) -> None:
        for _ in range(5):
            with contextlib.suppress(httpx.TransportError):
                response = await self._client.post(
                    f"/v1/notices/{notice_id}/feedback",
                    json={"result": "confirmed"},
                    headers={"Authorization": f"Bearer {self._key}"},
                )
                if response.status_code in (202, 409):  # 409: answered already (a redelivered push)
                    self.answered += 1
                    return
            await asyncio.sleep(0.5)

    async def close(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()


@contextlib.asynccontextmanager
async def serving(street: Street) -> AsyncIterator[int]:
    port = free_port()
    app = Starlette(routes=[Route("/hook", street.hook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for "started"
        await asyncio.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def watch_answers(baiyun: System, applied: dict[str, float]) -> None:
    """Baiyun's NoticeAnswered events: when each record's answer was applied there."""
    consumer = AIOKafkaConsumer(
        baiyun.env["POPFLOW_TOPIC_PREFIX"] + NOTICES_ANSWERED,
        **kafka_connection(baiyun.env).options(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        async for message in consumer:
            payload = json.loads(message.value or b"{}").get("payload", {})
            applied.setdefault(str(payload.get("record_id")), time.perf_counter())
    finally:
        await consumer.stop()


async def post_records(baiyun: System, key: str, count: int, first: int, senders: int = 16) -> dict[str, float]:
    posted: dict[str, float] = {}
    next_n = 0
    async with httpx.AsyncClient(base_url=baiyun.url("intake"), timeout=60) as client:

        async def sender() -> None:
            nonlocal next_n
            while next_n < count:
                n, next_n = next_n, next_n + 1
                began = time.perf_counter()
                response = await post_once(client, key, first + n)
                if response.status_code == 202:
                    posted[response.json()["record_id"]] = began

        await asyncio.gather(*(sender() for _ in range(senders)))
    return posted


async def post_once(client: httpx.AsyncClient, key: str, n: int, attempts: int = 3) -> httpx.Response:
    """POST record `n` under its own Idempotency-Key, sent again when the connection fails (a kept-alive
    connection the server closed as it was reused, seen once in 15 runs): as an integrator would, and
    accepted once however often it is sent."""
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": f"bench-exchange-{n}"}
    for attempt in range(attempts):
        try:
            return await client.post("/v1/records", json=record_body(n), headers=headers)
        except httpx.TransportError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


async def wait_for(done: dict[str, float], wanted: dict[str, float], within: float) -> None:
    deadline = time.perf_counter() + within
    while not all(r in done for r in wanted) and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def one_transport(transport: str, count: int) -> tuple[float, float, float]:
    logs = Path(tempfile.mkdtemp(prefix=f"bench-exchange-{transport}-"))
    platform = FtpPlatform(logs / "ftp-root", ["440111", "440106"]).start() if transport == "ftp" else None
    systems = await build_deployments(logs, PLANS, platform, BENCH_ENV)
    baiyun, tianhe = systems["baiyun"], systems["tianhe"]
    print(f"{transport}: run {baiyun.run_id}/{tianhe.run_id}, logs in {logs}", flush=True)
    applied: dict[str, float] = {}
    watcher = asyncio.create_task(watch_answers(baiyun, applied))
    try:
        start_all(systems, PLANS)
        key = await baiyun.create_key("admin")
        street = Street(tianhe, await tianhe.create_key(f"street:{records.WUSHAN}"))
        async with serving(street) as port, httpx.AsyncClient(timeout=10) as client:
            response = await client.put(
                tianhe.url("notification") + f"/v1/recipients/{records.WUSHAN}/webhook",
                json={"url": f"http://127.0.0.1:{port}/hook", "secret": SECRET},
                headers=await tianhe.admin_headers(),
            )
            response.raise_for_status()
            warm = await post_records(baiyun, key, 1, first=90_000, senders=1)  # consumer groups assigned first
            await wait_for(applied, warm, within=180)
            posted = await post_records(baiyun, key, count, first=0)
            await wait_for(applied, posted, within=max(300.0, count * 0.5))
            await street.close()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        try:
            await destroy_deployments(systems)
        except Exception as error:  # never lose the figures to a clean-up problem
            print(f"clean-up incomplete: {type(error).__name__}", file=sys.stderr)
        if platform is not None:
            platform.stop()
    trips = [(applied[r] - t) * 1000 for r, t in posted.items() if r in applied]
    span = max(applied[r] for r in posted if r in applied) - min(posted.values())
    per_s = len(trips) / span
    print(f"  {transport}: posted {len(posted)}, answered back {len(trips)} in {span:.1f} s", flush=True)
    return per_s, percentile(trips, 50), percentile(trips, 99)


async def main(count: int, transports: list[str]) -> None:
    figures = {t: await one_transport(t, count) for t in transports}
    parts = []
    for transport, (per_s, p50, p99) in figures.items():
        prefix = "" if transport == "https" else f"{transport}_"
        parts.append(
            f"{prefix}exchange_notices_per_s={per_s:.1f} {prefix}exchange_round_trip_p50_ms={p50:.0f} "
            f"{prefix}exchange_round_trip_p99_ms={p99:.0f}"
        )
    print(" ".join(parts))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--transports", default="https,ftp", help="comma-separated: https, ftp")
    args = parser.parse_args()
    asyncio.run(main(args.records, args.transports.split(",")))
