"""What every service gets from shared/runtime.service_app: /readyz that names a dead background task,
access lines under a request id, and /metrics. Real Kafka, SQLite stores.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import InvalidTimestampError, KafkaError, OutOfOrderSequenceNumber
from fastapi import APIRouter, FastAPI

from services.routing.bootstrap import MIGRATIONS
from shared.background import BackgroundTask
from shared.kafka.broker import aiokafka_producer
from shared.kafka.direct import DirectSender
from shared.logging import configure_logging
from shared.runtime import Runtime, build_runtime, lifespan_of, service_app
from shared.settings import ServiceSettings
from tests.support.infra import DATA_KEYS, PERSON_KEY_SECRET, kafka_bootstrap, unique_name
from tests.support.waiting import eventually


@dataclass
class Running:
    client: httpx.AsyncClient
    crash: asyncio.Event
    runtime: Runtime


def things_router() -> APIRouter:
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"thing_id": thing_id}

    return router


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    settings = ServiceSettings.model_validate(
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap(),
            "POPFLOW_TOPIC_PREFIX": f"test.{unique_name('rt')}.",
            "POPFLOW_TOPIC_PARTITIONS": 1,
            "POPFLOW_PERSON_KEY_SECRET": PERSON_KEY_SECRET,
            "POPFLOW_DATA_KEYS": DATA_KEYS,
            "POPFLOW_KEYS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/keys.db",
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/service.db",
            "port": 0,
        }
    )
    runtime = build_runtime(settings, service="probe")
    crash = asyncio.Event()

    async def steady() -> None:
        await asyncio.Event().wait()

    async def fold() -> None:
        await crash.wait()
        raise RuntimeError("the fold met something it cannot handle")

    background = [BackgroundTask("steady", steady), BackgroundTask("fold", fold)]
    lifespan = lifespan_of(runtime, MIGRATIONS, owns_key_store=True, background=background)
    app: FastAPI = service_app(runtime, title="probe", routers=[things_router()], lifespan=lifespan)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe", timeout=30) as client:
            yield Running(client, crash, runtime)


async def test_a_background_task_that_died_makes_the_service_unready_naming_it(running: Running) -> None:
    ready = await running.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["background"] is True

    running.crash.set()

    async def unready() -> httpx.Response | None:
        answer = await running.client.get("/readyz")
        return answer if answer.status_code == 503 else None

    answer = await eventually(unready)
    assert answer.json()["checks"] == {"kafka": True, "database": True, "key_store": True, "background": False}
    assert answer.json()["dead_background_tasks"] == ["fold"]


async def test_a_producer_whose_sender_task_died_makes_the_service_unready_saying_to_restart(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = await running.client.get("/readyz")
    assert ready.status_code == 200, ready.text

    producer = aiokafka_producer(running.runtime.broker)
    assert producer is not None
    topic = running.runtime.topics.all()[0]

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug in the sender routine")

    # the sender routine meets an error it does not expect: aiokafka ends its task with a bare KafkaError
    monkeypatch.setattr(producer._sender._message_accumulator, "drain_by_nodes", broken)
    with pytest.raises(KafkaError):
        await (await producer.send(topic, b"{}", key=b"k"))
    assert producer._sender.sender_task.done()
    with pytest.raises(KafkaError):  # the producer stays open, and refuses every send at once
        await producer.send(topic, b"{}", key=b"k")

    answer = await running.client.get("/readyz")
    assert answer.status_code == 503, answer.text
    assert answer.json()["checks"] == {"kafka": False, "database": True, "key_store": True, "background": True}
    assert answer.json()["failed"] == {
        "kafka": "Kafka producer's sender task stopped (KafkaError): nothing is published; restart the service"
    }


CLOCK = (
    "this host's clock is off from the brokers' by more than the topic takes (an hour ahead, by Kafka 4's "
    "default), or the topic's message.timestamp.before.max.ms is shorter than a batch waited; set it right"
)


async def refuse_a_timestamp(running: Running) -> tuple[AIOKafkaProducer, str, DirectSender]:
    """The producer's batch of a partition that knew its sequence refused for a timestamp two hours ahead, and
    the refusal told to a DirectSender: (the producer, the topic, the sender)."""
    producer = aiokafka_producer(running.runtime.broker)
    assert producer is not None
    topic = running.runtime.topics.all()[0]
    sender = DirectSender(running.runtime.broker)
    two_hours_ahead = int((time.time() + 7200) * 1000)
    await (await producer.send(topic, b"{}", key=b"k"))  # the partition knows the producer's sequence
    with pytest.raises(InvalidTimestampError) as refused:
        await (await producer.send(topic, b"{}", key=b"k", timestamp_ms=two_hours_ahead))
    sender.failed(topic, b"k", refused.value)
    return producer, topic, sender


async def test_timestamps_kafka_refuses_make_the_service_unready_naming_the_hosts_clock(running: Running) -> None:
    # the producer stamps each message with this host's clock; Kafka 4 takes none over an hour ahead of its own
    producer, topic, _ = await refuse_a_timestamp(running)
    answer = await running.client.get("/readyz")
    assert answer.status_code == 503, answer.text
    assert answer.json()["failed"] == {
        "kafka": f"Kafka refuses the timestamps of the producer's messages for {topic} partition 0 "
        f"(InvalidTimestamp): {CLOCK}"
    }
    # the refusal broke the partition's sequence, and the producer took a new id: with the clock right, the
    # partition publishes again, without a restart
    await (await producer.send(topic, b"{}", key=b"k"))


async def test_where_no_new_producer_id_can_be_taken_a_refused_timestamp_asks_for_a_restart(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    producer = aiokafka_producer(running.runtime.broker)
    assert producer is not None
    monkeypatch.setattr(producer, "_txn_manager", None)  # an aiokafka that keeps it elsewhere (the sender has its own)
    _, topic, sender = await refuse_a_timestamp(running)
    with pytest.raises(OutOfOrderSequenceNumber) as after:  # the refusal broke the partition's sequence too
        await (await producer.send(topic, b"{}", key=b"k"))
    sender.failed(topic, b"k", after.value)
    answer = await running.client.get("/readyz")
    assert answer.status_code == 503, answer.text
    assert answer.json()["failed"] == {
        "kafka": f"Kafka refuses the producer's batches for {topic} partition 0 (OutOfOrderSequenceNumber, after "
        f"it refused their timestamps): {CLOCK}, then restart the service"
    }


async def test_each_request_is_one_access_line_under_its_request_id(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(service="probe", fmt="json")
    given = await running.client.get("/things/t-1", headers={"X-Request-ID": "caller-trace-42"})
    fresh = await running.client.get("/things/t-2")
    odd = await running.client.get("/things/t-3", headers={"X-Request-ID": "no spaces or\nnewlines"})

    assert given.headers["X-Request-ID"] == "caller-trace-42"
    assert len(fresh.headers["X-Request-ID"]) == 32
    assert odd.headers["X-Request-ID"] not in ("no spaces or\nnewlines", fresh.headers["X-Request-ID"])
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["event"] == "request"]
    assert [line["request_id"] for line in access] == [r.headers["X-Request-ID"] for r in (given, fresh, odd)]
    first = access[0]
    assert (first["method"], first["route"], first["status"]) == ("GET", "/things/{thing_id}", 200)
    assert first["correlation_id"] == "caller-trace-42"
    assert first["duration_ms"] >= 0
    assert "t-1" not in json.dumps(access)  # the template, never the raw path


async def test_metrics_count_requests_by_route_template(running: Running) -> None:
    for n in range(3):
        assert (await running.client.get(f"/things/n-{n}")).status_code == 200
    assert (await running.client.get("/nowhere")).status_code == 404

    scraped = await running.client.get("/metrics")
    assert scraped.status_code == 200
    text = scraped.text
    assert sample(text, 'popflow_http_requests_total{method="GET",route="/things/{thing_id}",status="200"}') >= 3
    assert sample(text, 'popflow_http_requests_total{method="GET",route="unmatched",status="404"}') >= 1
    assert sample(text, 'popflow_http_request_duration_seconds_count{method="GET",route="/things/{thing_id}"}') >= 3
    assert "n-1" not in text
    assert "popflow_consumer_lag" in text  # the family, empty: this probe has no consumer group


def sample(exposition: str, series: str) -> float:
    """The value of one series in Prometheus text format; fails when it is absent."""
    for line in exposition.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} not in the exposition")
