"""`popflow receiver` (the `standardwebhooks` library) accepts what the service signs and refuses anything else."""

from __future__ import annotations

import json
import time

import httpx

from services.notification.domain.signing import secret_of, signed_headers
from services.notification.entrypoints.cli import receiver_app

NOTICE = {
    "notice_id": "n-1",
    "kind": "transfer",
    "recipient_code": "440111008",
    "route": "cross-street",
    "reason": "person lives in your street; please verify",
    "person": {"name": "张三", "id_number": "430102199003070128", "residence_address": "新市路 1 号"},
    "record_id": "r-1",
    "record_link": "http://127.0.0.1:8001/v1/records/r-1",
    "issued_at": "2027-02-24T02:30:00+00:00",
}


SECRET, GUESS = secret_of(b"k" * 32), secret_of(b"g" * 32)


def signed(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    return signed_headers(secret, "n-1", str(timestamp), body)


async def test_receiver_accepts_a_signed_notice_and_refuses_forgeries_and_replays() -> None:
    body = json.dumps(NOTICE).encode()
    now = int(time.time())
    transport = httpx.ASGITransport(app=receiver_app(SECRET))
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
        assert (await client.post("/hook", content=body, headers=signed(SECRET, body, now))).status_code == 204
        assert (await client.post("/", content=body, headers=signed(SECRET, body, now))).status_code == 204
        forged = await client.post("/hook", content=body, headers=signed(GUESS, body, now))
        replayed = await client.post("/hook", content=body, headers=signed(SECRET, body, now - 3600))
        tampered = await client.post("/hook", content=body + b" ", headers=signed(SECRET, body, now))
        renamed = await client.post("/hook", content=body, headers={**signed(SECRET, body, now), "webhook-id": "n-2"})
        unsigned = await client.post("/hook", content=body)
    assert [r.status_code for r in (forged, replayed, tampered, renamed, unsigned)] == [401] * 5
