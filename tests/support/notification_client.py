"""What notification's e2e tests do against a running system: publish notices, call the API, read topics."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.notification.domain.signing import secret_of
from shared.events import NoticePerson, Route, new_envelope
from shared.topics import NOTICES_ISSUED
from tests.support import records
from tests.support.infra import TEST_KEYRING, kafka_connection
from tests.support.notices import issued_notice
from tests.support.system import System
from tests.support.waiting import eventually

SECRET = secret_of(b"street-office-shared-secret-0123")  # a Standard Webhooks `whsec_` secret


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def publish_notices(system: System, recipient: str, count: int, *, first: int) -> list[str]:
    """NoticeIssued straight onto the topic, as routing would publish them."""
    producer = AIOKafkaProducer(**kafka_connection(system.env).options())
    await producer.start()
    ids = []
    try:
        for n in range(first, first + count):
            notice = issued_notice(
                notice_id=str(uuid.uuid4()),
                record_id=str(uuid.uuid4()),
                recipient_code=recipient,
                route=Route.CROSS_STREET,
                reason="person lives in your street; please verify",
                person=NoticePerson(
                    name="王五", id_number=records.id_number(sequence=n), residence_address="新市路 1 号"
                ),
                issued_at=datetime.now(UTC),
            )
            envelope = new_envelope(notice, producer="test", correlation_id=notice.record_id, keyring=TEST_KEYRING)
            topic = system.env["POPFLOW_TOPIC_PREFIX"] + NOTICES_ISSUED
            await producer.send_and_wait(topic, envelope.model_dump_json().encode(), key=notice.notice_id.encode())
            ids.append(notice.notice_id)
    finally:
        await producer.stop()
    return ids


async def subscribe(
    client: httpx.AsyncClient,
    system: System,
    key: str,
    recipient: str,
    url: str,
    *,
    secret: str | None = SECRET,
    replica: str = "notification",
) -> httpx.Response:
    """PUT the webhook through the process `replica`; `secret=None` lets the service generate one (returned
    in the answer)."""
    body = {"url": url, **({"secret": secret} if secret else {})}
    return await client.put(f"{system.url(replica)}/v1/recipients/{recipient}/webhook", json=body, headers=bearer(key))


async def subscribe_all(
    client: httpx.AsyncClient,
    system: System,
    headers: dict[str, str],
    recipients: list[str],
    url: str,
    *,
    replica: str = "notification",
) -> None:
    """Every recipient's webhook at `url` (with the test SECRET), as the admin whose `headers` are given,
    through the process `replica`."""
    for recipient in recipients:
        key = headers["Authorization"].split()[1]
        response = await subscribe(client, system, key, recipient, url, replica=replica)
        assert response.status_code in (200, 201), response.text


async def deliveries(client: httpx.AsyncClient, system: System, key: str, notice_id: str) -> dict[str, Any]:
    response = await client.get(f"{system.url('notification')}/v1/notices/{notice_id}/deliveries", headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def all_in_state(client: httpx.AsyncClient, system: System, key: str, ids: list[str], state: str) -> bool:
    """True once every notice is stored and its push in `state`."""
    for notice_id in ids:
        url = f"{system.url('notification')}/v1/notices/{notice_id}/deliveries"
        response = await client.get(url, headers=bearer(key))
        if response.status_code != 200 or response.json()["state"] != state:
            return False
    return True


async def consume_one(system: System, topic: str, notice_id: str) -> dict[str, Any]:
    """The one envelope about `notice_id` on `topic` (read from the start)."""
    consumer = AIOKafkaConsumer(
        system.env["POPFLOW_TOPIC_PREFIX"] + topic,
        **kafka_connection(system.env).options(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:

        async def arrived() -> bool:
            batches = await consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                envelopes = [json.loads(m.value) for m in messages]
                found.extend(e for e in envelopes if e["payload"]["notice_id"] == notice_id)
            return bool(found)

        await eventually(arrived)
    finally:
        await consumer.stop()
    assert len(found) == 1
    return found[0]
